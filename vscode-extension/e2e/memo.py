def add(a, b):
    """Return the sum of a and b."""
    return a + b


def multiply(a: int, b: int) -> int:
    """Return the product of a and b.

    >>> multiply(3, 4)
    12
    """
    return a * b
