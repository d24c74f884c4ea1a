-- The registry's first schema. The same SQL runs on SQLite and PostgreSQL:
-- times are Unix microseconds in BIGINT, JSON is TEXT, and ids come from
-- registry_state.generation rather than a dialect's autoincrement.

-- One row. Every write transaction locks it first, which serializes writers
-- on PostgreSQL as BEGIN IMMEDIATE does on SQLite; generation counts the
-- changes, so a server polls one number to learn that something changed.
CREATE TABLE registry_state (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	generation BIGINT NOT NULL
);
INSERT INTO registry_state (id, generation) VALUES (1, 0);

CREATE TABLE functions (
	name TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	scope TEXT NOT NULL,
	expires BIGINT NOT NULL, -- 0 = never
	retire_when TEXT NOT NULL,
	cases_path TEXT NOT NULL,
	cases_hash TEXT NOT NULL,
	gates TEXT NOT NULL, -- JSON
	retired BOOLEAN NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE versions (
	function TEXT NOT NULL REFERENCES functions (name),
	number BIGINT NOT NULL,
	program_id TEXT NOT NULL,
	adapter_sha256 TEXT NOT NULL,
	compiler_snapshot TEXT NOT NULL,
	spec_hash TEXT NOT NULL,
	built_at BIGINT NOT NULL, -- 0 = unknown
	created_at BIGINT NOT NULL,
	created_by TEXT NOT NULL,
	test_result TEXT, -- JSON of the last test; NULL = never tested
	test_passed BOOLEAN,
	tested_at BIGINT,
	PRIMARY KEY (function, number)
);

-- The live version, apart from functions so that the foreign key can name
-- an existing version without a cycle between the two tables.
CREATE TABLE live (
	function TEXT PRIMARY KEY REFERENCES functions (name),
	version BIGINT NOT NULL,
	FOREIGN KEY (function, version) REFERENCES versions (function, number)
);

CREATE TABLE audit (
	id BIGINT PRIMARY KEY, -- registry_state.generation after the change
	function TEXT NOT NULL REFERENCES functions (name),
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	version BIGINT NOT NULL, -- the version acted on; 0 = none
	from_live BIGINT NOT NULL, -- the live version before; 0 = none
	to_live BIGINT NOT NULL, -- and after
	reason TEXT NOT NULL,
	at BIGINT NOT NULL
);
CREATE INDEX audit_function ON audit (function, id);
