# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The OVSDB backend: the python ``ovs`` IDL over the ``Open_vSwitch`` database socket.

One :class:`Ovsdb` per module run:

* :meth:`Ovsdb.open` fetches the schema from the server (no ``.ovsschema`` file is needed on
  the host), registers only the tables and columns the module asked for, and waits for the
  initial monitor reply: the whole state is read once, here.
* :meth:`Ovsdb.transact` runs one transaction built by a callback; on ``TRY_AGAIN`` (someone
  else changed a row we read) it refreshes the replica and calls the callback again, so the
  callback must look rows up by name each time. ``next_cfg`` is incremented in the same
  transaction and the call then waits until ovs-vswitchd reports ``cur_cfg >= next_cfg``,
  which is what ``ovs-vsctl`` (without ``--no-wait``) waits for.
* Errors are typed: a missing socket or a dead ovsdb-server is BackendUnavailable naming the
  socket; a refused transaction is ApplyFailed with the server's words. Once the server stopped
  answering (the connection was lost, or a commit was not answered within the timeout) the
  replica is not trusted any more: every later read raises BackendUnavailable too, so a rollback
  never "verifies" against stale rows.
* What this connection's transactions did is kept for the rollback: :attr:`Ovsdb.attempted`
  (a transaction was tried), :attr:`Ovsdb.committed` (one was committed), :attr:`Ovsdb.uncertain`
  (one may or may not have been committed: the server did not answer).
* The rows a transaction writes are looked up by name each time it is built
  (:meth:`Ovsdb.named`): one that another client removed meanwhile is a Conflict naming it, and
  ``Row.verify("name")`` on every existing row written makes the server refuse (TRY_AGAIN) a
  transaction built from a replica in which such a row still existed.

Only the API shared by python ``ovs`` 2.17 .. 4.0 is used (``SchemaHelper.register_columns``,
``Idl.run/wait``, ``Transaction.commit/wait``, ``Row.setkey/delkey/addvalue/delvalue``).
Always check ``idl.change_seqno`` before ``poller.block()``: a poller without a timer blocks
forever when the update already arrived. ``ovs.vlog`` is deliberately not initialised: the IDL
then logs nothing (initialised, it prints reconnect messages to stderr).
"""

from __future__ import annotations

import errno
import math
import os
import time
import traceback
from typing import Any, Callable

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import (
    DEFAULT_DATABASE,
    DEFAULT_OVSDB_TIMEOUT,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._deps import require
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    ApplyFailed,
    BackendUnavailable,
    Conflict,
    InvalidInput,
)

try:
    import ovs.db.idl
    import ovs.jsonrpc
    import ovs.poller
    import ovs.stream
    OVS_IMPORT_ERROR = None
except ImportError:
    OVS_IMPORT_ERROR = traceback.format_exc()

DB_NAME = "Open_vSwitch"
#: how often a transaction is retried after TRY_AGAIN before giving up
MAX_ATTEMPTS = 5
#: the longest ``timeout`` (seconds): the IDL's poller takes milliseconds as a C int
MAX_TIMEOUT = (2 ** 31 - 1) // 1000


def check_timeout(value: Any, option: str = "timeout") -> float:
    """The OVSDB option group's ``timeout`` (None: the default), in seconds, > 0 and at most
    :data:`MAX_TIMEOUT`; anything else is InvalidInput naming the option, before any connection."""
    if value is None:
        return float(DEFAULT_OVSDB_TIMEOUT)
    try:
        seconds = float(value) if not isinstance(value, bool) else None
    except OverflowError:  # an int beyond any float
        seconds = float("inf")
    except (TypeError, ValueError):
        seconds = None
    if seconds is None or math.isnan(seconds):
        raise InvalidInput(option, value, "is not a number of seconds")
    if seconds <= 0:
        raise InvalidInput(option, value, "must be a number of seconds above 0 (how long to wait for "
                           "ovsdb-server and ovs-vswitchd)")
    if seconds > MAX_TIMEOUT:
        raise InvalidInput(option, value, "is more than %d seconds, the longest wait the OVS library can "
                           "take" % MAX_TIMEOUT)
    return seconds


def first(value: Any) -> Any:
    """An optional OVSDB column (a list of 0 or 1 items) as the item or None."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


class Ovsdb:
    """A connection to the Open_vSwitch database with a replica of the registered columns.

    ``columns`` maps a table name to the column names the caller reads or writes; the
    ``Open_vSwitch`` root columns ``bridges``, ``next_cfg`` and ``cur_cfg`` are always added.
    """

    def __init__(self, remote: str | None, timeout: float | None, columns: dict[str, list[str]]) -> None:
        self.remote = remote or DEFAULT_DATABASE
        self.timeout = check_timeout(timeout)
        self.columns = {table: list(cols) for table, cols in columns.items()}
        root = self.columns.setdefault("Open_vSwitch", [])
        for col in ("bridges", "next_cfg", "cur_cfg"):
            if col not in root:
                root.append(col)
        self.idl: Any = None
        #: why the replica can no longer be trusted (the server stopped answering), or None
        self.broken: str | None = None
        self.attempted = False
        self.committed = False
        self.uncertain = False

    # -- connection ------------------------------------------------------------------------
    def _unavailable(self, reason: str) -> BackendUnavailable:
        return BackendUnavailable("database: cannot reach ovsdb-server at %s: %s" % (self.remote, reason),
                                  database=self.remote)

    def _check_socket(self) -> None:
        if self.remote.startswith("unix:"):
            path = self.remote[len("unix:"):]
            if not os.path.exists(path):
                raise self._unavailable("socket %s does not exist (is ovsdb-server running? "
                                        "on Debian: systemctl start openvswitch-switch)" % path)
        elif not self.remote.startswith(("tcp:", "ssl:")):
            raise InvalidInput("database", self.remote, "is not an OVSDB remote (unix:PATH, tcp:IP:PORT or ssl:IP:PORT)")

    def _deadline(self) -> float:
        return time.monotonic() + self.timeout

    def _fetch_schema(self) -> Any:
        """Ask the server for its schema, with the timeout (jsonrpc's transact_block has none)."""
        error, stream = ovs.stream.Stream.open_block(ovs.stream.Stream.open(self.remote),
                                                     int(self.timeout * 1000))
        if error:
            raise self._unavailable(os.strerror(error) if error > 0 else "error %d" % error)
        rpc = ovs.jsonrpc.Connection(stream)
        try:
            request = ovs.jsonrpc.Message.create_request("get_schema", [DB_NAME])
            error = rpc.send(request)
            deadline = self._deadline()
            while not error:
                rpc.run()
                error, msg = rpc.recv()
                if error == errno.EAGAIN:
                    error = 0
                    if time.monotonic() > deadline:
                        raise self._unavailable("no answer to get_schema within %g s" % self.timeout)
                    poller = ovs.poller.Poller()
                    rpc.wait(poller)
                    rpc.recv_wait(poller)
                    poller.timer_wait(100)
                    poller.block()
                    continue
                if msg is not None and msg.id == request.id:
                    if msg.error:
                        raise self._unavailable("get_schema: %s" % (msg.error,))
                    return msg.result
            raise self._unavailable(os.strerror(error) if error > 0 else "connection closed")
        finally:
            rpc.close()

    def open(self) -> "Ovsdb":
        """Connect, register the columns, and read them once (the initial monitor reply)."""
        require("ovs", OVS_IMPORT_ERROR)
        if self.idl is not None:
            return self
        self._check_socket()
        helper = ovs.db.idl.SchemaHelper(schema_json=self._fetch_schema())
        for table, cols in self.columns.items():
            helper.register_columns(table, cols)
        self.idl = ovs.db.idl.Idl(self.remote, helper)
        seqno = self.idl.change_seqno
        deadline = self._deadline()
        while True:
            self.idl.run()
            if self.idl.change_seqno != seqno:
                break
            if time.monotonic() > deadline:
                self.close()
                raise self._unavailable("no initial database contents within %g s" % self.timeout)
            self._block(100)
        return self

    def close(self) -> None:
        """Close the IDL session (safe to call twice or after a failed open)."""
        if self.idl is not None:
            try:
                self.idl.close()
            finally:
                self.idl = None

    def _block(self, msec: int) -> None:
        poller = ovs.poller.Poller()
        self.idl.wait(poller)
        poller.timer_wait(msec)
        poller.block()

    def _lost(self, reason: str) -> BackendUnavailable:
        """Mark the connection unusable (later reads fail too) and return the error to raise."""
        self.broken = reason
        return self._unavailable(reason)

    def check_usable(self) -> None:
        """Raise BackendUnavailable if the server stopped answering earlier in this run, or
        the connection is lost now."""
        if self.broken is not None:
            raise self._unavailable(self.broken)
        if not self._connected():
            raise self._lost("the connection to ovsdb-server was lost")

    def refresh(self, msec: int = 0) -> None:
        """Process the updates that arrived (waiting up to ``msec`` for one); BackendUnavailable
        when the server is gone (a replica that can no longer be updated is not a reading)."""
        if self.broken is not None:
            raise self._unavailable(self.broken)
        seqno = self.idl.change_seqno
        self.idl.run()
        if msec and self.idl.change_seqno == seqno:
            self._block(msec)
            self.idl.run()
        self.check_usable()

    # -- reading ---------------------------------------------------------------------------
    def rows(self, table: str) -> list[Any]:
        """The replica's rows of ``table``."""
        return list(self.idl.tables[table].rows.values())

    def root(self) -> Any:
        """The single Open_vSwitch row."""
        rows = self.rows("Open_vSwitch")
        if not rows:
            raise BackendUnavailable("database: %s has no Open_vSwitch row (run 'ovs-vsctl init' or start "
                                     "openvswitch-switch)" % self.remote, database=self.remote)
        return rows[0]

    def by_name(self, table: str) -> dict[str, Any]:
        """Rows of ``table`` keyed by their ``name`` column."""
        return {row.name: row for row in self.rows(table)}

    def named(self, table: str, name: str, what: str) -> Any:
        """The row of ``table`` called ``name`` for a transaction of ``what``: Conflict if another
        client removed it after this task read the database (nothing is committed then)."""
        row = self.by_name(table).get(name)
        if row is None:
            raise Conflict("%s: %s %r was removed by another OVSDB client after this task read the database; "
                           "this task committed nothing, run it again" % (what, table.lower(), name),
                           table=table, row=name)
        row.verify("name")
        return row

    def bridge_of_port(self) -> dict[str, str]:
        """Port name -> name of the bridge holding it."""
        out = {}
        for br in self.rows("Bridge"):
            for port in br.ports:
                out[port.name] = br.name
        return out

    # -- writing ---------------------------------------------------------------------------
    def transact(self, build: Callable[[Any, "Ovsdb"], None], what: str) -> None:
        """Run one transaction made by ``build(txn, self)``, retry on TRY_AGAIN, wait for vswitchd.

        ``what`` names the change in messages (``bridge br0``).
        """
        Transaction = ovs.db.idl.Transaction
        deadline = self._deadline()
        self.attempted = True
        for _attempt in range(MAX_ATTEMPTS):
            if self.broken is not None:
                raise self._unavailable(self.broken)
            self.idl.run()
            if not self._connected():
                raise self._lost("the connection was lost before the transaction for %s was sent; "
                                 "it was not applied" % what)
            txn = Transaction(self.idl)
            try:
                build(txn, self)
            except BaseException:
                txn.abort()
                raise
            self.root().increment("next_cfg")
            status = txn.commit()
            sent = status == Transaction.INCOMPLETE  # TRY_AGAIN at once: the request never left
            while status == Transaction.INCOMPLETE:
                if time.monotonic() > deadline:
                    txn.abort()
                    self.uncertain = True
                    raise self._lost("the transaction for %s was not answered within %g s; it may or may "
                                     "not have been applied" % (what, self.timeout))
                self.idl.run()
                poller = ovs.poller.Poller()
                self.idl.wait(poller)
                txn.wait(poller)
                poller.timer_wait(100)
                poller.block()
                status = txn.commit()
            if status == Transaction.TRY_AGAIN:
                # a row changed under us (the replica was stale), or the connection is gone
                self.idl.run()
                if self._connected():
                    self.refresh(200)  # wait for the update, then rebuild from fresh rows
                if not self._connected():
                    self.uncertain = self.uncertain or sent
                    raise self._lost("the connection was lost while committing %s; it may or may not have been "
                                     "applied" % what if sent else "the connection was lost before the transaction "
                                     "for %s was sent; it was not applied" % what)
                continue
            if status in (Transaction.SUCCESS, Transaction.UNCHANGED):
                self.committed = self.committed or status == Transaction.SUCCESS
                next_cfg = txn.get_increment_new_value()
                if status == Transaction.SUCCESS and next_cfg is not None:
                    self.wait_applied(next_cfg, what)
                return
            raise ApplyFailed("ovsdb-server refused the transaction for %s (%s): %s; the database was not changed"
                              % (what, Transaction.status_to_string(status), txn.get_error()))
        raise ApplyFailed("the transaction for %s kept conflicting with other writers (%d attempts); "
                          "the database was not changed" % (what, MAX_ATTEMPTS))

    def _connected(self) -> bool:
        session = getattr(self.idl, "_session", None)
        return bool(session is not None and session.is_connected())

    def wait_applied(self, next_cfg: int, what: str) -> None:
        """Wait until ovs-vswitchd reports ``cur_cfg >= next_cfg`` (it has reconfigured)."""
        deadline = self._deadline()
        while True:
            self.idl.run()
            if not self._connected():
                lost = self._lost("the connection was lost after %s was committed, while waiting for "
                                  "ovs-vswitchd to apply it" % what)
                lost.details["committed"] = True
                raise lost
            if self.root().cur_cfg >= next_cfg:
                return
            if time.monotonic() > deadline:
                raise ApplyFailed("%s was written to the database but ovs-vswitchd did not apply it within %g s "
                                  "(is ovs-vswitchd running?)" % (what, self.timeout), committed=True)
            self._block(100)

    def wait_for(self, predicate: Callable[[], bool]) -> bool:
        """Refresh the replica until ``predicate()`` is true or the timeout passes."""
        deadline = self._deadline()
        while True:
            self.idl.run()
            self.check_usable()
            if predicate():
                return True
            if time.monotonic() > deadline:
                return False
            self._block(50)
