def unique(items):
    """Return the items without duplicates, keeping the first occurrence order.

    >>> unique([1, 2, 1, 3])
    [1, 2, 3]
    >>> unique([])
    []
    >>> unique(['a', 'a'])
    ['a']
    >>> unique([3, 2, 1])
    [3, 2, 1]
    """
    ...
