def last_element(items):
    """Return the last element of a list, or None if it is empty.

    >>> last_element([1, 2, 3])
    3
    >>> print(last_element([]))
    None
    >>> last_element(['a'])
    'a'
    >>> last_element([0, 0])
    0
    """
    ...
