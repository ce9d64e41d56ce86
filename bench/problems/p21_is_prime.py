def is_prime(n):
    """Return True if n is a prime number.

    >>> is_prime(2)
    True
    >>> is_prime(15)
    False
    >>> is_prime(13)
    True
    >>> is_prime(1)
    False
    """
    ...
