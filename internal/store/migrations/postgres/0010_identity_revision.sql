-- A counter every change of an identity moves by one, in the statement
-- that changes it: what identities read elsewhere are checked against.
-- A timestamp could repeat across instances whose clocks differ, a
-- counter the database increments cannot.
ALTER TABLE identities ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

-- whoami's rendering of the identity (the public view without its schema
-- URL, which depends on the config) and its second factors, kept with
-- the revision it was made from: whoami uses it only while that is still
-- the identity's revision, and a whoami that finds it missing or older
-- renders the identity and stores the view again. So whoami costs one
-- indexed read however many identities there are, with no cache in the
-- process to go stale.
ALTER TABLE identities ADD COLUMN public_view TEXT;
ALTER TABLE identities ADD COLUMN public_view_factors INTEGER NOT NULL DEFAULT 0;
ALTER TABLE identities ADD COLUMN public_view_revision BIGINT;
