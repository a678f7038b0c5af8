"""Services of analytics (STYLE §2): every write with consequences, one module per concern.

tracking   open pixel and click redirect: resolve a hit, hand it to ingestion
ingest     the Redis buffer of tracking hits, its drain, and the bulk write of events
sns        SNS message signature verification and subscription confirmation
feedback   SES notifications (through SNS): store, then apply to deliveries and subscribers
hygiene    suppression on hard bounces, complaints and repeated soft bounces; the sunset policy
guard      the deliverability guard: bounce and complaint rates that pause sends
rollups    daily rollups, unsubscribe attribution, retention of raw events
"""
