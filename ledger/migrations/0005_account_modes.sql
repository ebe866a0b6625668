-- Test and live money in separate accounts (docs/ledger.md, "Modes"): the mode is part of every
-- account's identity, (owner, kind, currency, livemode), and of every hold.
--  * existing accounts and holds were test-mode accounts (the default below, then dropped, so
--    every new account and hold must state its mode);
--  * ledger_ensure_account() and ledger_post_sale() take the mode;
--  * a journal transaction balances per currency *and mode* at commit (LG002): money never
--    moves between the worlds. The reclassification this migration posts (0005_account_modes.py)
--    moves a live payment's balances from its test account to the live twin, and balances in
--    each world on its own.

ALTER TABLE ledger_accounts ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE ledger_accounts ALTER COLUMN livemode DROP DEFAULT;
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_owner_kind_currency;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_owner_kind_currency_mode
    UNIQUE (owner, kind, currency, livemode);

ALTER TABLE ledger_holds ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE ledger_holds ALTER COLUMN livemode DROP DEFAULT;

DROP FUNCTION ledger_ensure_account(text, text, text, text);

CREATE FUNCTION ledger_ensure_account(
    p_owner text, p_kind text, p_currency text, p_side text, p_livemode boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT id INTO v_id FROM ledger_accounts
        WHERE owner = p_owner AND kind = p_kind AND currency = p_currency AND livemode = p_livemode;
    IF FOUND THEN
        RETURN v_id;
    END IF;
    INSERT INTO ledger_accounts (owner, kind, currency, normal_side, livemode)
        VALUES (p_owner, p_kind, p_currency, p_side, p_livemode)
        ON CONFLICT (owner, kind, currency, livemode) DO NOTHING RETURNING id INTO v_id;
    IF v_id IS NULL THEN  -- a concurrent caller created it first
        SELECT id INTO v_id FROM ledger_accounts
            WHERE owner = p_owner AND kind = p_kind AND currency = p_currency
              AND livemode = p_livemode;
        RETURN v_id;
    END IF;
    INSERT INTO ledger_account_balances (account_id) VALUES (v_id);
    RETURN v_id;
END $$;

-- balanced per currency and mode, at least two entries (the deferred check of migration 0001)
CREATE OR REPLACE FUNCTION ledger_check_transaction(p_id bigint, p_ts timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_count bigint;
    v_unbalanced text;
BEGIN
    SELECT coalesce(sum(n), 0),
           min(currency || CASE WHEN livemode THEN ' (live)' ELSE ' (test)' END)
               FILTER (WHERE net <> 0)
        INTO v_count, v_unbalanced
    FROM (SELECT e.currency, a.livemode, sum(e.debit) - sum(e.credit) AS net, count(*) AS n
          FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
          WHERE e.transaction_id = p_id AND e.ts = p_ts GROUP BY e.currency, a.livemode) s;
    IF v_count < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entries; at least two are required', p_id, v_count
            USING ERRCODE = 'LG003';
    END IF;
    IF v_unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not balance in %', p_id, v_unbalanced
            USING ERRCODE = 'LG002';
    END IF;
END $$;

-- a sale's hold row now records the payment's mode ------------------------------------------
DROP FUNCTION ledger_post_sale(text, text, text, text, timestamptz, text, text, text,
    bigint[], bigint[], bigint[], text, text, text, bigint[], bigint[], bigint[], integer,
    double precision);

CREATE FUNCTION ledger_post_sale(
    p_payment_id text, p_merchant_id text, p_provider text, p_currency text, p_livemode boolean,
    p_placed_ts timestamptz,
    p_hold_reference text, p_hold_description text, p_hold_digest text,
    p_hold_accounts bigint[], p_hold_debits bigint[], p_hold_credits bigint[],
    p_capture_reference text, p_capture_description text, p_capture_digest text,
    p_capture_accounts bigint[], p_capture_debits bigint[], p_capture_credits bigint[],
    p_max_attempts integer, p_backoff_s double precision)
RETURNS TABLE (o_kind text, o_id bigint, o_created boolean, o_ts timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_hold record;
    v_capture record;
    v_attempt integer := 1;
BEGIN
    INSERT INTO ledger_holds (payment_id, merchant_id, provider, currency, livemode, placed_ts)
        VALUES (p_payment_id, p_merchant_id, p_provider, p_currency, p_livemode, p_placed_ts)
        ON CONFLICT (payment_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    LOOP
        BEGIN  -- a subtransaction: a deadlock victim retries without losing the caller's work
            SELECT * INTO STRICT v_hold FROM ledger_post(
                'auth_hold', p_hold_reference, p_payment_id, p_hold_description, NULL, NULL,
                p_hold_accounts, p_hold_debits, p_hold_credits, p_hold_digest);
            SELECT * INTO STRICT v_capture FROM ledger_post(
                'capture', p_capture_reference, p_payment_id, p_capture_description, NULL, NULL,
                p_capture_accounts, p_capture_debits, p_capture_credits, p_capture_digest);
            EXIT;
        EXCEPTION WHEN deadlock_detected OR serialization_failure THEN
            IF v_attempt >= p_max_attempts THEN
                RAISE;
            END IF;
            RAISE WARNING 'ledger sale % retried after % (attempt %)', p_payment_id, SQLSTATE,
                v_attempt;
            PERFORM pg_sleep(p_backoff_s * v_attempt);
            v_attempt := v_attempt + 1;
        END;
    END LOOP;
    -- Only after the loop: rows handed to RETURN QUERY inside a block that then fails are kept.
    RETURN QUERY VALUES ('auth_hold', v_hold.o_id, v_hold.o_created, v_hold.o_ts),
                        ('capture', v_capture.o_id, v_capture.o_created, v_capture.o_ts);
END $$;
