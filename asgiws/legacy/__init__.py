"""The ``websockets.legacy`` module paths of websockets 10.4, for programs that import them.

``asgiws.legacy.server``, ``asgiws.legacy.client`` and ``asgiws.legacy.protocol`` name the same
classes as the top-level ``asgiws`` package; there is only one implementation.
"""
