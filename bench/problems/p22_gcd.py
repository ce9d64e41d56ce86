def gcd(a, b):
    """Return the greatest common divisor of two positive integers.

    >>> gcd(12, 18)
    6
    >>> gcd(7, 5)
    1
    >>> gcd(10, 10)
    10
    >>> gcd(100, 75)
    25
    """
    ...
