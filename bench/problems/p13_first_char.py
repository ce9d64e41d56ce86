def first_char(s):
    """Return the first character of s, or an empty string if s is empty.

    >>> first_char('hello')
    'h'
    >>> first_char('')
    ''
    >>> first_char('x')
    'x'
    >>> first_char('ab')
    'a'
    """
    ...
