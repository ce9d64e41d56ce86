def fibonacci(n):
    """Return the n-th Fibonacci number, with fibonacci(0) == 0 and fibonacci(1) == 1.

    >>> fibonacci(0)
    0
    >>> fibonacci(1)
    1
    >>> fibonacci(7)
    13
    >>> fibonacci(10)
    55
    """
    ...
