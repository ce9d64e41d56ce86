def square(x):
    """Return x squared.

    >>> square(3)
    9
    >>> square(-2)
    4
    >>> square(0)
    0
    >>> square(10)
    100
    """
    ...
