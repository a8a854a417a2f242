"""The built-in plugins of ica, each registered through the same hook as third-party ones."""
