-- ledger schema, second step (review fixes; docs/ledger.md):
--  * every partition of ledger_entries carries the statement-level guards (an INSERT naming a
--    partition is checked like one naming the parent);
--  * the default partition refuses rows (LG008): a posting with no month partition fails loudly
--    instead of silently blocking that month's partition; ledger_ensure_partitions moves rows
--    that got there anyway (triggers bypassed) into the new month before attaching it;
--  * ledger_post() compares a replay's payment_id and request digest (LG007), refuses a booking
--    time beyond now + ledger_max_future_skew() (LG009) and serializes postings of one
--    (kind, reference) with a transaction-scoped advisory lock.
-- New SQLSTATEs: LG007 replay differs from the original, LG008 no partition for ts,
-- LG009 booking time too far in the future.

ALTER TABLE ledger_transactions ADD COLUMN request_digest text NOT NULL DEFAULT '';

-- partition guards ---------------------------------------------------------------------------
-- Statement-level triggers fire only for statements naming the table they are defined on, so
-- the parent's truncate guard and entry check must be repeated on every partition.
CREATE FUNCTION ledger_guard_partition(p_table regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = p_table
                   AND tgname = 'ledger_entries_no_truncate') THEN
        EXECUTE format('CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change()', p_table);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = p_table
                   AND tgname = 'ledger_entries_one_statement') THEN
        EXECUTE format('CREATE TRIGGER ledger_entries_one_statement AFTER INSERT ON %s '
                       'REFERENCING NEW TABLE AS new_entries '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_new_entries()', p_table);
    END IF;
END $$;

CREATE FUNCTION ledger_refuse_default_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'no ledger_entries partition covers %: run ledger_ensure_partitions', NEW.ts
        USING ERRCODE = 'LG008';
END $$;

CREATE TRIGGER ledger_entries_default_refuse BEFORE INSERT ON ledger_entries_default
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_default_entry();

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT inhrelid::regclass AS part FROM pg_inherits
             WHERE inhparent = 'ledger_entries'::regclass LOOP
        PERFORM ledger_guard_partition(r.part);
    END LOOP;
END $$;

-- monthly partitions, created ahead by the beat task -----------------------------------------
-- Rows in the default partition inside a month's range would make creating that month fail
-- forever; they are moved (same rows, same ids and running totals) into the new month, which is
-- then attached. Needs the table owner (as does any partition DDL): the beat task's role.
CREATE OR REPLACE FUNCTION ledger_ensure_partitions(p_from timestamptz, p_months integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_month timestamp;
    v_start timestamptz;
    v_end timestamptz;
    v_name text;
    v_created integer := 0;
BEGIN
    FOR i IN 0 .. p_months - 1 LOOP
        v_month := date_trunc('month', p_from AT TIME ZONE 'UTC') + make_interval(months => i);
        v_start := v_month AT TIME ZONE 'UTC';
        v_end := (v_month + interval '1 month') AT TIME ZONE 'UTC';
        v_name := 'ledger_entries_y' || to_char(v_month, 'YYYY') || 'm' || to_char(v_month, 'MM');
        IF to_regclass(v_name) IS NULL THEN
            IF EXISTS (SELECT 1 FROM ledger_entries_default WHERE ts >= v_start AND ts < v_end) THEN
                RAISE WARNING 'moving ledger entries of % out of ledger_entries_default', v_name;
                EXECUTE format('CREATE TABLE %I (LIKE ledger_entries INCLUDING DEFAULTS '
                               'INCLUDING CONSTRAINTS)', v_name);
                ALTER TABLE ledger_entries_default DISABLE TRIGGER ledger_entries_append_only;
                EXECUTE format('WITH moved AS (DELETE FROM ledger_entries_default '
                               'WHERE ts >= %L AND ts < %L RETURNING *) '
                               'INSERT INTO %I SELECT * FROM moved', v_start, v_end, v_name);
                ALTER TABLE ledger_entries_default ENABLE TRIGGER ledger_entries_append_only;
                EXECUTE format('ALTER TABLE ledger_entries ATTACH PARTITION %I '
                               'FOR VALUES FROM (%L) TO (%L)', v_name, v_start, v_end);
            ELSE
                EXECUTE format('CREATE TABLE %I PARTITION OF ledger_entries '
                               'FOR VALUES FROM (%L) TO (%L)', v_name, v_start, v_end);
            END IF;
            PERFORM ledger_guard_partition(v_name::regclass);
            v_created := v_created + 1;
        END IF;
    END LOOP;
    RETURN v_created;
END $$;

-- posting ------------------------------------------------------------------------------------
-- How far ahead of the database clock an explicit booking time may be (clock skew between
-- hosts); services.MAX_FUTURE_SKEW_S mirrors it.
CREATE FUNCTION ledger_max_future_skew() RETURNS interval LANGUAGE sql IMMUTABLE AS $$
    SELECT interval '60 seconds'
$$;

CREATE FUNCTION ledger_check_replay(p_id bigint, p_kind text, p_reference text,
    p_payment_id text, p_digest text, p_found_payment_id text, p_found_digest text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- an empty stored digest: posted before digests were recorded, compare the payment only
    IF p_found_payment_id <> p_payment_id
       OR (p_found_digest <> '' AND p_found_digest <> p_digest) THEN
        RAISE EXCEPTION 'ledger posting (%, %) replays transaction % with a different payment or '
            'lines', p_kind, p_reference, p_id USING ERRCODE = 'LG007';
    END IF;
END $$;

DROP FUNCTION ledger_post(text, text, text, text, timestamptz, bigint, bigint[], bigint[],
                          bigint[]);

CREATE FUNCTION ledger_post(
    p_kind text, p_reference text, p_payment_id text, p_description text, p_ts timestamptz,
    p_reverses bigint, p_accounts bigint[], p_debits bigint[], p_credits bigint[],
    p_digest text)
RETURNS TABLE (o_id bigint, o_created boolean, o_ts timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_ts timestamptz;
    v_last timestamptz;
    v_found_payment text;
    v_found_digest text;
BEGIN
    -- One (kind, reference) at a time: a retry racing its original waits for it and replays it,
    -- also when it names another payment (which the unique key, per payment, cannot see).
    PERFORM pg_advisory_xact_lock(hashtext('ledger_post'), hashtext(p_kind || ':' || p_reference));
    SELECT t.id, t.ts, t.payment_id, t.request_digest
        INTO v_id, v_ts, v_found_payment, v_found_digest
        FROM ledger_transactions t WHERE t.kind = p_kind AND t.reference = p_reference LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_check_replay(v_id, p_kind, p_reference, p_payment_id, p_digest,
                                    v_found_payment, v_found_digest);
        RETURN QUERY SELECT v_id, false, v_ts;
        RETURN;
    END IF;
    IF p_ts IS NOT NULL AND p_ts > clock_timestamp() + ledger_max_future_skew() THEN
        RAISE EXCEPTION 'posting at % is in the future (more than % ahead)', p_ts,
            ledger_max_future_skew() USING ERRCODE = 'LG009';
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
    INSERT INTO ledger_transactions AS t
        (payment_id, kind, reference, description, reverses_id, ts, request_digest)
        VALUES (p_payment_id, p_kind, p_reference, p_description, p_reverses, v_ts, p_digest)
        ON CONFLICT (payment_id, kind, reference) DO NOTHING
        RETURNING t.id INTO v_id;
    IF v_id IS NULL THEN  -- backstop: a concurrent retry of the same posting committed first
        SELECT t.id, t.ts, t.request_digest INTO v_id, v_ts, v_found_digest
            FROM ledger_transactions t
            WHERE t.payment_id = p_payment_id AND t.kind = p_kind AND t.reference = p_reference;
        PERFORM ledger_check_replay(v_id, p_kind, p_reference, p_payment_id, p_digest,
                                    p_payment_id, v_found_digest);
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
