-- A sale (authorized and captured by one provider call) booked in one statement: the hold row,
-- then the hold and its full capture through ledger_post(), the two postings retried together
-- on a deadlock or serialization failure. Before this, the same work took five round trips
-- (the hold row, SAVEPOINT, two ledger_post() calls, RELEASE).
--
-- No rows back: the payment's hold row already existed (a replay); the caller takes the
-- two-step path, which answers with the earlier postings or refuses a conflicting one.

CREATE FUNCTION ledger_post_sale(
    p_payment_id text, p_merchant_id text, p_provider text, p_currency text,
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
    INSERT INTO ledger_holds (payment_id, merchant_id, provider, currency, placed_ts)
        VALUES (p_payment_id, p_merchant_id, p_provider, p_currency, p_placed_ts)
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
