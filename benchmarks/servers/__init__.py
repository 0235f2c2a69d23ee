"""One small script per server under test; each takes ``--port`` and runs until killed."""
