"""The core's own subcommands, each a plugin module registered through ``llebench_register_commands``
exactly like a third-party plugin's commands (see :mod:`llebench.commandline`)."""
