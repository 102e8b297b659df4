-- A registry written by plugbay 0.1 at schema version 4 (before per-plugin migrations):
-- config entries, an api provider and model, a price override, three keys (one revoked,
-- one with spend) and usage rows. Raw keys are in tests/core/test_registry_upgrade.py.
BEGIN TRANSACTION;
CREATE TABLE keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        hint TEXT NOT NULL,              -- masked form for display: pb-...wxyz
        models TEXT,                     -- JSON list of names and prefix* patterns; NULL = all
        scopes TEXT NOT NULL,            -- JSON list
        rpm INTEGER,
        tpm INTEGER,
        max_parallel INTEGER,
        max_budget REAL,
        spend REAL NOT NULL DEFAULT 0,
        expires_at REAL,
        enabled INTEGER NOT NULL DEFAULT 1,
        revoked_at REAL,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        changed_at REAL NOT NULL
    );
INSERT INTO "keys" VALUES('key_216cad8250760724','alpha','e16ecaaecc7240b371dace5ecc27e054a98de4b12b22361dd0534a375652c33c','pb-...3FM4',X'5B226563686F225D',X'5B2263686174222C22656D62656464696E6773222C226D6F64656C73225D',10,NULL,NULL,5.0,0.75,NULL,1,NULL,X'7B227465616D223A2261227D',1.79619100003767561907e+09,1.79619100003767561907e+09,1764600000.0);
INSERT INTO "keys" VALUES('key_cd4f947e2ba2fbeb','beta','7d8c95ea7f9f0600818c89283e6c638f6f4e66a1e11f17346eebb4e2a57f04a8','pb-...G98I',NULL,X'5B2263686174222C226D6F64656C73225D',NULL,NULL,NULL,NULL,0.0,NULL,1,NULL,X'7B7D',1.79619100003810071948e+09,1.79619100003810071948e+09,1.79619100003810071948e+09);
INSERT INTO "keys" VALUES('key_85014eec95110a13','gamma','590aef0c2410d98af056d6decd0c4169095538560c2cc44f876b83c7e69406a1','pb-...Moyo',NULL,X'5B2263686174222C22656D62656464696E6773222C226D6F64656C73225D',NULL,NULL,NULL,NULL,0.0,NULL,1,1.79619100003861522675e+09,X'7B7D',1.7961910000383915901e+09,1.79619100003861522675e+09,1.79619100003861522675e+09);
CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
INSERT INTO "meta" VALUES('registry_version','5');
CREATE TABLE models (
        name TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        upstream_model TEXT NOT NULL,
        settings TEXT NOT NULL,          -- JSON
        source TEXT NOT NULL CHECK (source IN ('config', 'api')),
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
INSERT INTO "models" VALUES('echo','echo','echo',X'7B226E616D65223A226563686F222C2270726F7669646572223A226563686F222C22757073747265616D5F6D6F64656C223A6E756C6C2C227072696365223A6E756C6C7D','config',1.79619100003634405132e+09,1.79619100003634405132e+09);
INSERT INTO "models" VALUES('api-m','api-p','api-m',X'7B226E616D65223A226170692D6D222C2270726F7669646572223A226170692D70222C22757073747265616D5F6D6F64656C223A6E756C6C2C227072696365223A6E756C6C7D','api',1764600000.0,1764600000.0);
CREATE TABLE prices (
        model TEXT PRIMARY KEY,
        input REAL,
        output REAL,
        cached_input REAL,
        updated_at REAL NOT NULL
    );
INSERT INTO "prices" VALUES('echo',1.0,2.0,NULL,1764600000.0);
CREATE TABLE providers (
        name TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        settings TEXT NOT NULL,          -- JSON; never holds the api key
        secret BLOB,                     -- the api key, encrypted (entries made at run time)
        source TEXT NOT NULL CHECK (source IN ('config', 'api')),
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
INSERT INTO "providers" VALUES('echo','echo',X'7B226E616D65223A226563686F222C2274797065223A226563686F222C22626173655F75726C223A6E756C6C2C226170695F6B6579223A6E756C6C2C2268656164657273223A7B7D2C2274696D656F7574223A3630302E302C2266697273745F627974655F74696D656F7574223A6E756C6C2C2269646C655F74696D656F7574223A6E756C6C2C22636F6E6E6563745F74696D656F7574223A31302E302C226D61785F726573706F6E73655F73697A65223A36373130383836342C226D61785F636F6E6E656374696F6E73223A3130302C226F7074696F6E73223A7B7D7D',NULL,'config',1.79619100003634405132e+09,1.79619100003634405132e+09);
INSERT INTO "providers" VALUES('api-p','echo',X'7B226E616D65223A226170692D70222C2274797065223A226563686F222C22626173655F75726C223A6E756C6C2C226170695F6B6579223A6E756C6C2C2268656164657273223A7B7D2C2274696D656F7574223A3630302E302C2266697273745F627974655F74696D656F7574223A6E756C6C2C2269646C655F74696D656F7574223A6E756C6C2C22636F6E6E6563745F74696D656F7574223A31302E302C226D61785F726573706F6E73655F73697A65223A36373130383836342C226D61785F636F6E6E656374696F6E73223A3130302C226F7074696F6E73223A7B7D7D',NULL,'api',1764600000.0,1764600000.0);
CREATE TABLE usage (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        request_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        key_id TEXT,
        model TEXT,
        provider TEXT,
        upstream_model TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cached_tokens INTEGER,
        usage_estimated INTEGER NOT NULL DEFAULT 0,
        latency_ms REAL NOT NULL,
        ttft_ms REAL,
        status INTEGER NOT NULL,
        error_code TEXT,
        stream INTEGER NOT NULL,
        cache_status TEXT,
        cost_usd REAL
    );
INSERT INTO "usage" VALUES(1,1764600000.0,'req-0','chat.completions','key_216cad8250760724','echo','echo','echo',10,5,0,0,1.5,NULL,200,NULL,0,NULL,0.25);
INSERT INTO "usage" VALUES(2,1764600001.0,'req-1','chat.completions','key_216cad8250760724','echo','echo','echo',10,5,0,0,1.5,NULL,200,NULL,0,NULL,0.25);
INSERT INTO "usage" VALUES(3,1764600002.0,'req-2','chat.completions','key_216cad8250760724','echo','echo','echo',10,5,0,0,1.5,NULL,200,NULL,0,NULL,0.25);
CREATE INDEX models_provider ON models (provider);
CREATE INDEX keys_changed_at ON keys (changed_at);
CREATE INDEX usage_ts ON usage (ts);
CREATE INDEX usage_key_ts ON usage (key_id, ts);
CREATE TRIGGER providers_insert AFTER INSERT ON providers BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'registry_version';
    END;
CREATE TRIGGER providers_update AFTER UPDATE ON providers BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'registry_version';
    END;
CREATE TRIGGER providers_delete AFTER DELETE ON providers BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'registry_version';
    END;
CREATE TRIGGER models_insert AFTER INSERT ON models BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'registry_version';
    END;
CREATE TRIGGER models_update AFTER UPDATE ON models BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'registry_version';
    END;
CREATE TRIGGER models_delete AFTER DELETE ON models BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'registry_version';
    END;
CREATE TRIGGER prices_insert AFTER INSERT ON prices BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'registry_version';
    END;
CREATE TRIGGER prices_update AFTER UPDATE ON prices BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'registry_version';
    END;
CREATE TRIGGER prices_delete AFTER DELETE ON prices BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'registry_version';
    END;
COMMIT;
PRAGMA user_version = 4;
