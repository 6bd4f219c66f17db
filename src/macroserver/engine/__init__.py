"""What runs a macro: parsing, the registry, the door's runner, control and the scan engine.

Knows nothing of Tango or of file formats; the Tango devices and the local runner drive
it through `MacroServerCore` and `MacroRunner`.
"""
