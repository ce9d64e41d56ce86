def count_char(text, ch):
    """Count how many times the character ch occurs in text.

    >>> count_char('banana', 'a')
    3
    >>> count_char('hello', 'z')
    0
    >>> count_char('', 'a')
    0
    >>> count_char('aaa', 'a')
    3
    """
    ...
