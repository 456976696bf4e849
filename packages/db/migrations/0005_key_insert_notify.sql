-- New keys announce their hash on the key-change channel (api_key_changes, the one carrying
-- revocations), so every gateway's in-memory filter of existing key hashes learns of them
-- at commit, whichever process or tool inserted the row.
CREATE FUNCTION "api_keys_notify_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('api_key_changes', NEW.key_hash);
	RETURN NEW;
END;
$$;--> statement-breakpoint
CREATE TRIGGER "api_keys_notify_insert" AFTER INSERT ON "api_keys" FOR EACH ROW EXECUTE FUNCTION "api_keys_notify_insert"();
