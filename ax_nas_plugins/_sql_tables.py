"""Create Ax's SQL tables, on PostgreSQL too, with no process-wide change.

The rule: Ax declares long text columns as ``Text(length)`` and
``String(2**32-1)``, written for MySQL, which picks a TEXT size from the
length. PostgreSQL refuses a length on TEXT ("type modifier is not allowed for
type text") and a VARCHAR over 10,485,760 characters. Only the DDL is
affected (queries do not render column types), so the pack creates the
tables through an engine of its own whose dialect (this engine's instance
only, through SQLAlchemy's public ``Dialect.type_compiler_instance``) renders
TEXT without a length and such VARCHARs as TEXT, then disposes of it. No
``@compiles`` hook is installed: every other engine and ``MetaData`` in the
process compiles exactly as before, and Ax's own engine (which only reads and
writes rows) is the plain one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.types import String, Text

#: PostgreSQL's longest VARCHAR; longer declared strings become TEXT.
POSTGRESQL_MAX_VARCHAR = 10_485_760


def _postgresql_text_compiler(base: type) -> type:
    class PostgreSQLTextTypeCompiler(base):  # type: ignore[misc,valid-type]
        """The dialect's type compiler with TEXT and huge VARCHAR made legal."""

        def visit_TEXT(self, type_: Text, **kw: Any) -> str:
            return "TEXT"

        def visit_VARCHAR(self, type_: String, **kw: Any) -> str:
            if type_.length is not None and type_.length > POSTGRESQL_MAX_VARCHAR:
                return "TEXT"
            return super().visit_VARCHAR(type_, **kw)

    return PostgreSQLTextTypeCompiler


def use_postgresql_text_types(engine: Engine) -> Engine:
    """Make ``engine`` (this one only) emit PostgreSQL-legal DDL for Ax's tables.

    A no-op for other dialects. Returns the engine.
    """
    dialect = engine.dialect
    if dialect.name != "postgresql":
        return engine
    base = type(dialect.type_compiler_instance)
    compiler = _postgresql_text_compiler(base)(dialect)
    dialect.type_compiler_instance = compiler
    dialect.type_compiler = compiler  # legacy alias SQLAlchemy keeps in step
    return engine


def create_tables(url: str) -> None:
    """Create Ax's tables at ``url`` if missing (a throwaway engine; idempotent)."""
    from ax.storage.sqa_store import sqa_classes  # noqa: F401  (registers tables)
    from ax.storage.sqa_store.db import create_all_tables

    engine = use_postgresql_text_types(create_engine(url))
    try:
        create_all_tables(engine)
    finally:
        engine.dispose()
