def count_vowels(text):
    """Count the vowels (a, e, i, o, u) in lowercase text.

    >>> count_vowels('hello')
    2
    >>> count_vowels('xyz')
    0
    >>> count_vowels('aeiou')
    5
    >>> count_vowels('banana')
    3
    """
    ...
