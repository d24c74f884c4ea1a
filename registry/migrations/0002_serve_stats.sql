-- What paw serve saw of each version: calls answered, fallbacks to the
-- upstream model, shadow comparisons and agreements. Servers add to the
-- counts (several may share a registry); they are not changes to govern, so
-- they bump no generation and leave no audit entry.
CREATE TABLE serve_stats (
	function TEXT NOT NULL,
	version BIGINT NOT NULL,
	calls BIGINT NOT NULL,
	fallbacks BIGINT NOT NULL,
	shadow_compared BIGINT NOT NULL,
	shadow_agreed BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (function, version),
	FOREIGN KEY (function, version) REFERENCES versions (function, number)
);
