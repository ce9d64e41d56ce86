def reverse_string(s):
    """Return s reversed.

    >>> reverse_string('abc')
    'cba'
    >>> reverse_string('')
    ''
    >>> reverse_string('racecar')
    'racecar'
    >>> reverse_string('ab')
    'ba'
    """
    ...
