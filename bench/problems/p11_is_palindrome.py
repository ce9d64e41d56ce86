def is_palindrome(s):
    """Return True if s reads the same forwards and backwards.

    >>> is_palindrome('level')
    True
    >>> is_palindrome('abc')
    False
    >>> is_palindrome('')
    True
    >>> is_palindrome('abba')
    True
    """
    ...
