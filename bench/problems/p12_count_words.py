def count_words(sentence):
    """Return the number of words separated by whitespace.

    >>> count_words('hello world')
    2
    >>> count_words('')
    0
    >>> count_words('one')
    1
    >>> count_words('a b  c')
    3
    """
    ...
