def repeat_string(s, n):
    """Return s repeated n times.

    >>> repeat_string('ab', 3)
    'ababab'
    >>> repeat_string('x', 0)
    ''
    >>> repeat_string('', 5)
    ''
    >>> repeat_string('hi', 1)
    'hi'
    """
    ...
