def capitalize_words(sentence):
    """Capitalize the first letter of every word.

    >>> capitalize_words('hello world')
    'Hello World'
    >>> capitalize_words('')
    ''
    >>> capitalize_words('a')
    'A'
    >>> capitalize_words('python is fun')
    'Python Is Fun'
    """
    ...
