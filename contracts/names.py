"""Activity and workflow names: the contract with every worker and every recorded history.

Workflows call activities by these names, never by importing the implementation; a worker registers its
`@activity.defn` classes under them. Never rename one: a history recorded with the old name would no longer
replay, and a run in flight would call an activity no worker serves. A tool's activity is named by
`contracts.agents.tool_activity_name` (`tools.<name>.v<version>`).
"""

from __future__ import annotations

# ---- workflows ----------------------------------------------------------------------------------------
WF_CONVERSATION = "ConversationWorkflow"
WF_PLACE_ORDER = "PlaceOrderWorkflow"
WF_REFUND = "RefundWorkflow"
WF_TENANT_LIFECYCLE = "TenantLifecycleWorkflow"
WF_INGEST_DOCUMENT = "IngestDocumentWorkflow"
WF_REEMBED_COLLECTION = "ReembedCollectionWorkflow"
WF_NIGHTLY_DRIFT = "NightlyDriftWorkflow"
WF_DR_DRILL = "DrDrillWorkflow"

# ---- the conversation and its turns -------------------------------------------------------------------
ACT_RECORD_USER_MESSAGE = "conversation.record_user_message"
ACT_COMPLETE_TURN = "conversation.complete_turn"
ACT_TURN_FAILED = "conversation.turn_failed"
ACT_TURN_CUT = "conversation.turn_cut"
ACT_RELEASE_TURN_LEASE = "conversation.release_turn_lease"
ACT_MODEL_COMPLETE = "model.complete"
ACT_RESOLVE_AGENT = "agents.resolve"
ACT_RECORD_TOOL_OUTCOME = "tools.record_outcome"
ACT_RECORD_APPROVAL = "approvals.record"
ACT_PUBLISH_EVENT = "events.publish"
ACT_RECORD_POLICY_DECISION = "tools.record_policy_decision"
# Model routing: which model answers a model call, decided in history before the call.
ACT_ROUTE_DECIDE = "router.decide"
ACT_EARLY_EXIT_LOOKUP = "router.early_exit_lookup"
ACT_EARLY_EXIT_STORE = "router.early_exit_store"
ACT_TOOL_ANSWER = "router.tool_answer"
# Merged steps (`turn-steps` patch): the early-exit lookup and the first routing decision in one local
# activity; the answer and the slot's release in another.
ACT_PREPARE_TURN = "router.prepare_turn"
ACT_FINISH_TURN = "conversation.finish_turn"

# ---- tenant offboarding -------------------------------------------------------------------------------
ACT_MARK_OFFBOARDING = "tenancy.lifecycle.mark_offboarding"
ACT_STOP_WORKFLOWS = "tenancy.lifecycle.stop_workflows"
ACT_EXPORT_DATA = "tenancy.lifecycle.export_data"
ACT_PURGE_REDIS = "tenancy.lifecycle.purge_redis"
ACT_PURGE_DATABASE = "tenancy.lifecycle.purge_database"

# ---- knowledge ingestion ------------------------------------------------------------------------------
ACT_KNOWLEDGE_PARSE = "knowledge.parse"
ACT_KNOWLEDGE_EMBED = "knowledge.embed"
ACT_KNOWLEDGE_FINISH = "knowledge.finish"
ACT_REEMBED_EMBED = "knowledge.reembed.embed"
ACT_REEMBED_SWITCH = "knowledge.reembed.switch"
ACT_REEMBED_PURGE = "knowledge.reembed.purge"
ACT_REEMBED_FINISH = "knowledge.reembed.finish"
ACT_REEMBED_CANCEL = "knowledge.reembed.cancel"
# ---- nightly drift analysis ---------------------------------------------------------------------------
ACT_DRIFT_LIST_TENANTS = "drift.list_tenants"
ACT_DRIFT_ANALYSE_TENANT = "drift.analyse_tenant"
# ---- disaster-recovery drills -------------------------------------------------------------------------
ACT_DR_BACKUP = "dr.backup"
ACT_DR_RESTORE_VERIFY = "dr.restore_verify"
ACT_DR_RECORD = "dr.record"
ACT_DR_PLAN = "dr.plan"
# ---- webhooks and billing -----------------------------------------------------------------------------
WF_WEBHOOK_DELIVERY = "WebhookDeliveryWorkflow"
ACT_WEBHOOK_PUBLISH = "webhooks.publish"
ACT_WEBHOOK_ATTEMPT = "webhooks.attempt"
ACT_WEBHOOK_FINISH = "webhooks.finish"
# ---- subscriptions ------------------------------------------------------------------------------------
WF_SUBSCRIPTION = "SubscriptionWorkflow"
ACT_BILLING_CLOSE_PERIOD = "billing.close_period"
ACT_BILLING_CHARGE = "billing.charge"
ACT_BILLING_SET_TENANT_STATUS = "billing.set_tenant_status"
ACT_BILLING_RECORD = "billing.record_subscription"
# ---- privacy: erasure of one end customer, retention ---------------------------------------------------
WF_ERASURE = "ErasureWorkflow"
ACT_ERASURE_STOP_CONVERSATIONS = "privacy.erasure.stop_conversations"
ACT_ERASURE_DATABASE = "privacy.erasure.erase_database"
ACT_ERASURE_REDIS = "privacy.erasure.erase_redis"
ACT_ERASURE_SIGN_REPORT = "privacy.erasure.sign_report"
WF_RETENTION = "RetentionWorkflow"
ACT_RETENTION_LIST_TENANTS = "privacy.retention.list_tenants"
ACT_RETENTION_ENFORCE = "privacy.retention.enforce"
# ---- evals --------------------------------------------------------------------------------------------
WF_EVAL_RUN = "EvalRunWorkflow"
WF_EVAL_TASK = "EvalTaskWorkflow"
ACT_EVAL_PREPARE_TASK = "evals.prepare_task"
ACT_EVAL_GRADE_TASK = "evals.grade_task"
ACT_EVAL_FINISH_RUN = "evals.finish_run"
# ---- channels -----------------------------------------------------------------------------------------
ACT_CHANNEL_SEND_REPLY = "channels.send_reply"
# ---- self-serve signup and the mail outbox ------------------------------------------------------------
WF_SIGNUP = "SignupWorkflow"
ACT_SIGNUP_PREPARE = "signup.prepare"
ACT_SIGNUP_CREATE_TENANT = "signup.create_tenant"
ACT_SIGNUP_START_SUBSCRIPTION = "signup.start_subscription"
ACT_SIGNUP_FINISH = "signup.finish"
ACT_MAIL_SEND = "mail.send"
WF_MAIL = "MailWorkflow"
WF_KEY_ROTATION = "KeyRotationWorkflow"
ACT_KEYS_ACTIVE = "privacy.keys.active"
ACT_KEYS_ROTATE = "privacy.keys.rotate"
ACT_KEYS_RESEAL = "privacy.keys.reseal"
ACT_KEYS_RETIRE = "privacy.keys.retire"
ACT_SIGNUP_RETENTION = "signup.retention"
# ---- router canaries ----------------------------------------------------------------------------------
WF_ROUTER_CANARY = "CanaryWorkflow"
ACT_CANARY_BEGIN = "router.canary.begin"
ACT_CANARY_EVALUATE = "router.canary.evaluate"
ACT_CANARY_FINISH = "router.canary.finish"
