"""The template `edmac` offers for a new macro: a Sardana-style macro file."""

NEW_MACRO_TEMPLATE = '''"""Macros of {library}."""

from sardana.macroserver.macro import Macro, Type


class {macro}(Macro):
    """{macro}: describe what it does."""

    # uncomment and adapt as needed, or delete:
    # param_def = [["name", Type.String, None, "what it is"]]
    # result_def = [["result", Type.String, None, "what it returns"]]
    # hints = {{}}
    # env = ()

    # def prepare(self):
    #     pass

    def run(self):
        self.output("{macro} ran")
'''
