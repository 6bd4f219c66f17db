"""Sardana's XML macro calls parse exactly as the typed command lines do."""

from __future__ import annotations

import pytest
from collect import make_core

from macroserver.engine.xmlcommand import with_id
from macroserver.errors import MacroServerError


def param(name: str, value: str) -> str:
    return f'<param name="{name}" value="{value}"/>'


def repeat(nr: int, *params: str) -> str:
    return f'<repeat nr="{nr}">{"".join(params)}</repeat>'


@pytest.fixture
def core(tmp_path):
    return make_core(tmp_path)


@pytest.mark.parametrize("xml, line", [
    ('<macro name="ascan">' + param("motor", "m1") + param("start_pos", "0")
     + param("final_pos", "1") + param("nr_interv", "5") + param("integ_time", "0.1")
     + "</macro>", "ascan m1 0 1 5 0.1"),
    ('<sequence><macro name="mv"><paramrepeat name="motor_pos_list">'
     + repeat(1, param("motor", "m1"), param("pos", "1"))
     + repeat(2, param("motor", "m2"), param("pos", "2"))
     + "</paramrepeat></macro></sequence>", "mv [m1 1] [m2 2]"),
    ('<macro name="senv">' + param("name", "ScanFile") + '<paramrepeat name="value">'
     + repeat(1, param("value", "a.h5")) + repeat(2, param("value", "b.dat"))
     + "</paramrepeat></macro>", "senv ScanFile a.h5 b.dat"),
])
def test_xml_and_typed_line_give_the_same_values(core, xml, line):
    cls, values, title = core.parse([xml])
    typed_cls, typed_values, _ = core.parse(line)
    assert cls is typed_cls and values == typed_values
    assert core.parse(xml)[1] == values  # a plain string too


@pytest.mark.parametrize("xml, message", [
    ("<macro name='ascan'>", "not well-formed"),
    ("<macro>" + param("motor", "m1") + "</macro>", "no name attribute"),
    ("<sequence><macro name='wa'/><macro name='wa'/></sequence>", "exactly one <macro>"),
    ("<macro name='ascan'><param name='motor'/></macro>", "has no value"),
    ("<macro name='ascan'><script/></macro>", "unexpected XML element <script>"),
    ("<macro name='ascna'/>", "did you mean ascan"),
    ('<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
     '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
     '<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;">]>'
     '<macro name="senv"><param name="name" value="X"/><paramrepeat name="value">'
     '<repeat nr="1"><param name="value" value="&f;"/></repeat></paramrepeat></macro>',
     "XML"),
])
def test_bad_xml_gets_a_clear_error(core, xml, message):
    with pytest.raises(MacroServerError, match=message):
        core.parse([xml])


def test_the_returned_xml_carries_the_macro_id():
    xml = '<sequence><macro name="wa"/></sequence>'
    assert with_id(xml, "abc123") == '<sequence><macro name="wa" id="abc123" /></sequence>'
