def join_words(words):
    """Join words with single spaces.

    >>> join_words(['a', 'b'])
    'a b'
    >>> join_words([])
    ''
    >>> join_words(['hi'])
    'hi'
    >>> join_words(['x', 'y', 'z'])
    'x y z'
    """
    ...
