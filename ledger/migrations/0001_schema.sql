-- ledger schema: PostgreSQL itself enforces the ledger's invariants (docs/ledger.md).
-- Custom SQLSTATEs: LG001 append-only, LG002 unbalanced, LG003 fewer than two entries,
-- LG004 backdated posting, LG005 entries outside their transaction's single insert,
-- LG006 forged creator of a transaction row.

CREATE TABLE ledger_accounts (
    id          bigserial PRIMARY KEY,
    owner       varchar(120) NOT NULL CHECK (owner <> ''),
    kind        varchar(40)  NOT NULL CHECK (kind <> ''),
    currency    char(3)      NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    normal_side varchar(6)   NOT NULL CHECK (normal_side IN ('debit', 'credit')),
    created     timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT ledger_accounts_owner_kind_currency UNIQUE (owner, kind, currency),
    -- target of the entries' (account_id, currency) foreign key: an entry's currency is its account's
    CONSTRAINT ledger_accounts_id_currency UNIQUE (id, currency)
);

CREATE TABLE ledger_account_balances (
    account_id   bigint PRIMARY KEY REFERENCES ledger_accounts (id),
    debit_total  bigint NOT NULL DEFAULT 0 CHECK (debit_total >= 0),
    credit_total bigint NOT NULL DEFAULT 0 CHECK (credit_total >= 0),
    entry_count  bigint NOT NULL DEFAULT 0 CHECK (entry_count >= 0),
    last_ts      timestamptz
);

CREATE TABLE ledger_transactions (
    id          bigserial,
    payment_id  varchar(64)  NOT NULL DEFAULT '',
    kind        varchar(32)  NOT NULL CHECK (kind <> ''),
    reference   varchar(200) NOT NULL CHECK (reference <> ''),
    description text         NOT NULL DEFAULT '',
    reverses_id bigint,
    ts          timestamptz  NOT NULL,
    -- the database transaction that inserted the row (top level, also inside savepoints)
    created_xid xid8         NOT NULL DEFAULT pg_current_xact_id(),
    -- every key carries payment_id, the later Citus distribution column
    PRIMARY KEY (id, payment_id),
    CONSTRAINT ledger_transactions_id_payment_ts UNIQUE (id, payment_id, ts),
    CONSTRAINT ledger_transactions_idempotency UNIQUE (payment_id, kind, reference)
);
CREATE INDEX ledger_transactions_kind_reference ON ledger_transactions (kind, reference);
CREATE INDEX ledger_transactions_ts ON ledger_transactions (ts);
CREATE UNIQUE INDEX ledger_transactions_reversed_once
    ON ledger_transactions (payment_id, reverses_id) WHERE reverses_id IS NOT NULL;

CREATE TABLE ledger_entries (
    entry_id       bigserial,
    transaction_id bigint      NOT NULL,
    payment_id     varchar(64) NOT NULL DEFAULT '',
    account_id     bigint      NOT NULL,
    debit          bigint      NOT NULL DEFAULT 0,
    credit         bigint      NOT NULL DEFAULT 0,
    currency       char(3)     NOT NULL,
    ts             timestamptz NOT NULL,
    running_debit  bigint      NOT NULL,
    running_credit bigint      NOT NULL,
    CONSTRAINT ledger_entries_one_side CHECK (
        (debit > 0 AND credit = 0) OR (debit = 0 AND credit > 0)
    ),
    -- the partition key (ts) and the distribution key (payment_id) are in the primary key
    PRIMARY KEY (entry_id, ts, payment_id),
    -- an entry belongs to a transaction of the same payment and carries its timestamp
    CONSTRAINT ledger_entries_transaction FOREIGN KEY (transaction_id, payment_id, ts)
        REFERENCES ledger_transactions (id, payment_id, ts),
    CONSTRAINT ledger_entries_account_currency FOREIGN KEY (account_id, currency)
        REFERENCES ledger_accounts (id, currency)
) PARTITION BY RANGE (ts);
CREATE INDEX ledger_entries_payment ON ledger_entries (payment_id);
CREATE INDEX ledger_entries_account_ts ON ledger_entries (account_id, ts, entry_id);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);

CREATE TABLE ledger_holds (
    payment_id  varchar(64) PRIMARY KEY,
    merchant_id varchar(64) NOT NULL,
    provider    varchar(64) NOT NULL,
    currency    char(3)     NOT NULL,
    placed_ts   timestamptz NOT NULL
);

-- append-only -----------------------------------------------------------------------------
CREATE FUNCTION ledger_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger table % is append-only: % is not allowed; post a reversing transaction',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'LG001';
END $$;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER ledger_accounts_append_only BEFORE UPDATE OR DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER ledger_holds_append_only BEFORE UPDATE OR DELETE ON ledger_holds
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER ledger_holds_no_truncate BEFORE TRUNCATE ON ledger_holds
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();
-- cached balances change only by UPDATE from ledger_post(); never deleted
CREATE TRIGGER ledger_account_balances_no_delete BEFORE DELETE ON ledger_account_balances
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER ledger_account_balances_no_truncate BEFORE TRUNCATE ON ledger_account_balances
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();

-- balanced, at least two entries: checked when the database transaction commits -------------
-- The deferred trigger on the transaction row checks its entries at commit. It sees every entry
-- the transaction will ever have because a statement trigger on ledger_entries admits entries
-- only for a transaction row created in the same database transaction, and only all of them in
-- one INSERT: an entry can never be slipped into a committed (or already checked) transaction.
-- Two trigger calls per journal transaction, however many entries it has.
CREATE FUNCTION ledger_check_transaction(p_id bigint, p_ts timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_count bigint;
    v_unbalanced text;
BEGIN
    -- one pass over the transaction's entries (ts = the transaction's ts prunes to one partition)
    SELECT coalesce(sum(n), 0), min(currency) FILTER (WHERE net <> 0) INTO v_count, v_unbalanced
    FROM (SELECT currency, sum(debit) - sum(credit) AS net, count(*) AS n
          FROM ledger_entries WHERE transaction_id = p_id AND ts = p_ts GROUP BY currency) s;
    IF v_count < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entries; at least two are required', p_id, v_count
            USING ERRCODE = 'LG003';
    END IF;
    IF v_unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not balance in %', p_id, v_unbalanced
            USING ERRCODE = 'LG002';
    END IF;
END $$;

CREATE FUNCTION ledger_check_transaction_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.created_xid <> pg_current_xact_id() THEN
        RAISE EXCEPTION 'ledger transaction % claims another database transaction as creator',
            NEW.id USING ERRCODE = 'LG006';
    END IF;
    PERFORM ledger_check_transaction(NEW.id, NEW.ts);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_transactions_balanced AFTER INSERT ON ledger_transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_transaction_trigger();

CREATE FUNCTION ledger_check_new_entries() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_creator xid8;
    v_count bigint;
BEGIN
    -- Usually one journal transaction per statement; each lookup below is an index probe.
    FOR r IN SELECT transaction_id, ts, count(*) AS n FROM new_entries GROUP BY transaction_id, ts
    LOOP
        SELECT t.created_xid INTO v_creator FROM ledger_transactions t
            WHERE t.id = r.transaction_id AND t.ts = r.ts;
        SELECT count(*) INTO v_count FROM ledger_entries e
            WHERE e.transaction_id = r.transaction_id AND e.ts = r.ts;
        IF v_creator IS DISTINCT FROM pg_current_xact_id() OR v_count <> r.n THEN
            RAISE EXCEPTION 'entries of ledger transaction % must all be inserted by one statement '
                'of the database transaction that created it', r.transaction_id
                USING ERRCODE = 'LG005';
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_entries_one_statement AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_new_entries();

-- monthly partitions, created ahead by the beat task -----------------------------------------
CREATE FUNCTION ledger_ensure_partitions(p_from timestamptz, p_months integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_month timestamp;
    v_name text;
    v_created integer := 0;
BEGIN
    FOR i IN 0 .. p_months - 1 LOOP
        v_month := date_trunc('month', p_from AT TIME ZONE 'UTC') + make_interval(months => i);
        v_name := 'ledger_entries_y' || to_char(v_month, 'YYYY') || 'm' || to_char(v_month, 'MM');
        IF to_regclass(v_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF ledger_entries FOR VALUES FROM (%L) TO (%L)',
                v_name, v_month AT TIME ZONE 'UTC', (v_month + interval '1 month') AT TIME ZONE 'UTC');
            EXECUTE format('CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON %I '
                           'FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change()', v_name);
            v_created := v_created + 1;
        END IF;
    END LOOP;
    RETURN v_created;
END $$;

-- accounts: get-or-create with their balance row ---------------------------------------------
CREATE FUNCTION ledger_ensure_account(p_owner text, p_kind text, p_currency text, p_side text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT id INTO v_id FROM ledger_accounts
        WHERE owner = p_owner AND kind = p_kind AND currency = p_currency;
    IF FOUND THEN
        RETURN v_id;
    END IF;
    INSERT INTO ledger_accounts (owner, kind, currency, normal_side)
        VALUES (p_owner, p_kind, p_currency, p_side)
        ON CONFLICT (owner, kind, currency) DO NOTHING RETURNING id INTO v_id;
    IF v_id IS NULL THEN  -- a concurrent caller created it first
        SELECT id INTO v_id FROM ledger_accounts
            WHERE owner = p_owner AND kind = p_kind AND currency = p_currency;
        RETURN v_id;
    END IF;
    INSERT INTO ledger_account_balances (account_id) VALUES (v_id);
    RETURN v_id;
END $$;

-- posting: one round trip; idempotent per (kind, reference) ---------------------------------
CREATE FUNCTION ledger_post(
    p_kind text, p_reference text, p_payment_id text, p_description text, p_ts timestamptz,
    p_reverses bigint, p_accounts bigint[], p_debits bigint[], p_credits bigint[])
RETURNS TABLE (o_id bigint, o_created boolean, o_ts timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_ts timestamptz;
    v_last timestamptz;
BEGIN
    SELECT t.id, t.ts INTO v_id, v_ts FROM ledger_transactions t
        WHERE t.kind = p_kind AND t.reference = p_reference LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT v_id, false, v_ts;
        RETURN;
    END IF;
    -- Lock the touched balance rows in account-id order: concurrent posters to a hot account
    -- queue on its row instead of deadlocking, and no update is lost.
    SELECT max(b.last_ts) INTO v_last FROM (
        SELECT ab.last_ts FROM ledger_account_balances ab
        WHERE ab.account_id = ANY (p_accounts) ORDER BY ab.account_id FOR UPDATE
    ) b;
    -- Booking time is taken after the locks, so per account ts never goes backwards and the
    -- running totals on entries answer as-of queries.
    v_ts := clock_timestamp();
    IF p_ts IS NOT NULL THEN
        IF v_last IS NOT NULL AND p_ts < v_last THEN
            RAISE EXCEPTION 'posting at % is earlier than the last entry (%) of one of its accounts',
                p_ts, v_last USING ERRCODE = 'LG004';
        END IF;
        v_ts := p_ts;
    ELSIF v_last IS NOT NULL AND v_last > v_ts THEN
        v_ts := v_last;
    END IF;
    INSERT INTO ledger_transactions AS t (payment_id, kind, reference, description, reverses_id, ts)
        VALUES (p_payment_id, p_kind, p_reference, p_description, p_reverses, v_ts)
        ON CONFLICT (payment_id, kind, reference) DO NOTHING
        RETURNING t.id INTO v_id;
    IF v_id IS NULL THEN  -- a concurrent retry of the same posting committed first
        SELECT t.id, t.ts INTO v_id, v_ts FROM ledger_transactions t
            WHERE t.payment_id = p_payment_id AND t.kind = p_kind AND t.reference = p_reference;
        RETURN QUERY SELECT v_id, false, v_ts;
        RETURN;
    END IF;
    WITH lines AS (
        SELECT l.account_id, l.debit, l.credit, l.n
        FROM unnest(p_accounts, p_debits, p_credits) WITH ORDINALITY AS l (account_id, debit, credit, n)
    ), per_account AS (
        SELECT account_id, sum(debit) AS debit, sum(credit) AS credit, count(*) AS n
        FROM lines GROUP BY account_id
    ), totals AS (
        UPDATE ledger_account_balances ab
        SET debit_total = ab.debit_total + p.debit, credit_total = ab.credit_total + p.credit,
            entry_count = ab.entry_count + p.n, last_ts = v_ts
        FROM per_account p WHERE ab.account_id = p.account_id
        RETURNING ab.account_id, ab.debit_total, ab.credit_total
    )
    INSERT INTO ledger_entries (transaction_id, payment_id, account_id, debit, credit, currency, ts,
                                running_debit, running_credit)
    SELECT v_id, p_payment_id, l.account_id, l.debit, l.credit, a.currency, v_ts,
        u.debit_total - coalesce(sum(l.debit) OVER later, 0),
        u.credit_total - coalesce(sum(l.credit) OVER later, 0)
    FROM lines l
    JOIN ledger_accounts a ON a.id = l.account_id
    LEFT JOIN totals u ON u.account_id = l.account_id
    WINDOW later AS (PARTITION BY l.account_id ORDER BY l.n
                     ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
    ORDER BY l.n;
    RETURN QUERY SELECT v_id, true, v_ts;
END $$;

SELECT ledger_ensure_partitions(now() - interval '12 months', 16);
CREATE TABLE ledger_entries_default PARTITION OF ledger_entries DEFAULT;
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries_default
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();
