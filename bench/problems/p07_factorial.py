def factorial(n):
    """Return n! for n >= 0.

    >>> factorial(0)
    1
    >>> factorial(1)
    1
    >>> factorial(5)
    120
    >>> factorial(6)
    720
    """
    ...
