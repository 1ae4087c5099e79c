"""The invoker function against moto accounts and the Converse emulator."""
