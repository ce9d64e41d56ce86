def word_lengths(words):
    """Return the length of each word.

    >>> word_lengths(['a', 'bb'])
    [1, 2]
    >>> word_lengths([])
    []
    >>> word_lengths(['hello'])
    [5]
    >>> word_lengths(['', 'xyz'])
    [0, 3]
    """
    ...
