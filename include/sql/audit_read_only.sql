-- An audit only reads: every later statement on this connection runs read-only.
SELECT set_config('default_transaction_read_only', 'on', false)
