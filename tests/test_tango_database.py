"""The embedded Tango database, dsconfig registration and device-server start-up."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
import tango

from macroserver.tango.database import (
    EmbeddedDatabase,
    apply_dsconfig,
    database_answers,
    free_port,
    start_device_server,
)

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).parent.parent


def _classes_of(db: tango.Database, server: str) -> dict[str, str]:
    """{device: class} of one server instance as the database has it."""
    names = db.get_device_class_list(server).value_string
    return dict(zip(names[0::2], names[1::2]))


def test_session_database_answers_through_tango_host(tango_db: EmbeddedDatabase) -> None:
    assert database_answers(tango_db.tango_host, timeout=5)
    assert tango.ApiUtil.get_env_var("TANGO_HOST") == tango_db.tango_host
    assert "DataBaseds/2" in tango.Database().get_server_list("DataBaseds/*").value_string
    if isinstance(tango_db, EmbeddedDatabase):  # not MACROSERVER_TEST_DB=mariadb
        assert (tango_db.workdir / "tango_database.db").is_file()


def test_nothing_answers_on_a_free_port() -> None:
    assert not database_answers(f"127.0.0.1:{free_port()}", timeout=0.3)


def test_second_database_on_the_same_port_is_refused(
    tango_db: EmbeddedDatabase, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError, match=rf"127\.0\.0\.1:{tango_db.port}.*port is in use"):
        EmbeddedDatabase(tango_db.port, tmp_path).start(timeout=10)
    assert database_answers(tango_db.tango_host, timeout=5)


def test_a_picked_port_taken_by_another_process_first_is_replaced(tmp_path: Path) -> None:
    """The race of a port picked free: another socket binds it before the database does
    (here on purpose, held for the whole start); the database takes another free port."""
    database = EmbeddedDatabase(None, tmp_path)
    taken = database.port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", taken))
        other.listen()
        with database:
            assert database.port != taken
            assert database_answers(database.tango_host, timeout=5)


def test_context_manager_starts_and_stops_its_own_database(tmp_path: Path) -> None:
    with EmbeddedDatabase(None, tmp_path) as database:
        assert database_answers(database.tango_host, timeout=5)
        assert (tmp_path / "tango_database.db").is_file()
    assert not database_answers(database.tango_host, timeout=0.3)


def test_dsconfig_dict_is_written_and_can_be_reapplied(
    tango_db: EmbeddedDatabase,
) -> None:
    config = {"servers": {"Widget": {"ds1": {
        "WidgetClass": {
            "test/widget/1": {"properties": {"Colour": ["red"], "Sizes": ["1", "2"]}},
            "test/widget/2": {},
        },
    }}}}
    assert apply_dsconfig(config, tango_db.tango_host) > 0
    db = tango.Database()
    assert _classes_of(db, "Widget/ds1") == {
        "dserver/Widget/ds1": "DServer", "test/widget/1": "WidgetClass",
        "test/widget/2": "WidgetClass"}
    properties = {"Colour": ["red"], "Sizes": ["1", "2"]}
    assert db.get_device_property("test/widget/1", ["Colour", "Sizes"]) == properties
    apply_dsconfig(config, tango_db.tango_host)
    assert len(_classes_of(db, "Widget/ds1")) == 3
    assert db.get_device_property("test/widget/1", ["Colour", "Sizes"]) == properties


def test_demo_server_description_applies_from_its_file(tango_db: EmbeddedDatabase) -> None:
    apply_dsconfig(REPO / "tango_db" / "macroserver.json", tango_db.tango_host)
    db = tango.Database()
    assert _classes_of(db, "MacroServer/demo") == {
        "dserver/MacroServer/demo": "DServer", "macroserver/demo/1": "MacroServer",
        "door/demo/1": "Door", "door/demo/2": "Door", "metadata/demo/1": "MetadataManager"}
    assert db.get_device_property("macroserver/demo/1", "MetadataManager") == {
        "MetadataManager": ["metadata/demo/1"]}
    assert db.get_device_property("door/demo/2", "MacroServerName") == {
        "MacroServerName": ["macroserver/demo/1"]}
    assert db.get_device_property("macroserver/demo/1", "Config") == {"Config": ["demo"]}


def test_something_else_than_dsconfig_is_refused(tango_db: EmbeddedDatabase,
                                                 tmp_path: Path) -> None:
    path = tmp_path / "wrong.json"
    path.write_text(json.dumps({"motors": {}}))
    with pytest.raises(ValueError, match="not a dsconfig description"):
        apply_dsconfig(path, tango_db.tango_host)


def test_unregistered_server_is_refused_before_starting(tango_db: EmbeddedDatabase) -> None:
    with pytest.raises(RuntimeError, match="Nowhere/nobody is not registered"):
        start_device_server([sys.executable, "-c", "pass"], "nobody", tango_db.tango_host,
                            server="Nowhere")


def test_server_that_dies_is_reported_with_its_output(tango_db: EmbeddedDatabase,
                                                      tmp_path: Path) -> None:
    apply_dsconfig({"servers": {"Broken": {"b1": {"BrokenClass": {"test/broken/1": {}}}}}},
                   tango_db.tango_host)
    crash = "import sys; print('cannot find the hardware', sys.argv[1:]); sys.exit(3)"
    with pytest.raises(RuntimeError) as failure:
        start_device_server([sys.executable, "-c", crash], "b1", tango_db.tango_host,
                            server="Broken", timeout=10, log_path=tmp_path / "broken.log")
    message = str(failure.value)
    assert "Broken/b1" in message and "exited with code 3" in message
    assert "cannot find the hardware ['b1', '-ORBendPoint', 'giop:tcp:127.0.0.1:0']" in message


def test_server_that_never_exports_is_stopped_after_its_timeout(
    tango_db: EmbeddedDatabase, tmp_path: Path
) -> None:
    apply_dsconfig({"servers": {"Sleepy": {"s1": {"SleepyClass": {"test/sleepy/1": {}}}}}},
                   tango_db.tango_host)
    with pytest.raises(RuntimeError, match="test/sleepy/1.* did not answer within 1.0 s"):
        start_device_server([sys.executable, "-c", "import time; time.sleep(60)"], "s1",
                            tango_db.tango_host, server="Sleepy", timeout=1.0,
                            log_path=tmp_path / "sleepy.log")


def test_sim_servers_run_under_the_session_database(sim_motor: str, sim_detector: str) -> None:
    db = tango.Database()
    assert db.get_device_info(sim_motor).exported
    assert tango.DeviceProxy(sim_detector).state() == tango.DevState.ON


def test_starting_a_running_server_again_is_refused(sim_motor: str,
                                                    tango_db: EmbeddedDatabase) -> None:
    with pytest.raises(RuntimeError, match="SimMotor/test is already running"):
        start_device_server([sys.executable, "-c", "pass"], "test", tango_db.tango_host,
                            server="SimMotor")
    assert tango.DeviceProxy(sim_motor).state() == tango.DevState.ON
