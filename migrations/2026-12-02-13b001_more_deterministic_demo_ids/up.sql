-- Benefits take their id from `portfolio_new_id()` too, so `serve --demo` gives the demo's
-- benefits the same ids on every machine (the contract's examples name them). Webhook
-- subscriptions and delivery-status batches get theirs from the same function in the store.
ALTER TABLE benefits ALTER COLUMN id SET DEFAULT portfolio_new_id();
