from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Preference(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PREFERENCE_BALANCED: _ClassVar[Preference]
    PREFERENCE_COST: _ClassVar[Preference]
    PREFERENCE_QUALITY: _ClassVar[Preference]
    PREFERENCE_LATENCY: _ClassVar[Preference]

class UsageGroup(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_GROUP_DAY: _ClassVar[UsageGroup]
    USAGE_GROUP_MODEL: _ClassVar[UsageGroup]
    USAGE_GROUP_PROVIDER: _ClassVar[UsageGroup]
    USAGE_GROUP_TASK_TYPE: _ClassVar[UsageGroup]
    USAGE_GROUP_KEY: _ClassVar[UsageGroup]
PREFERENCE_BALANCED: Preference
PREFERENCE_COST: Preference
PREFERENCE_QUALITY: Preference
PREFERENCE_LATENCY: Preference
USAGE_GROUP_DAY: UsageGroup
USAGE_GROUP_MODEL: UsageGroup
USAGE_GROUP_PROVIDER: UsageGroup
USAGE_GROUP_TASK_TYPE: UsageGroup
USAGE_GROUP_KEY: UsageGroup

class Credentials(_message.Message):
    __slots__ = ("api_key", "admin_token")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    ADMIN_TOKEN_FIELD_NUMBER: _ClassVar[int]
    api_key: str
    admin_token: str
    def __init__(self, api_key: _Optional[str] = ..., admin_token: _Optional[str] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message", "retry_after_ms")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    retry_after_ms: int
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., retry_after_ms: _Optional[int] = ...) -> None: ...

class ChatMessage(_message.Message):
    __slots__ = ("role", "content")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    role: str
    content: str
    def __init__(self, role: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class RouteRequest(_message.Message):
    __slots__ = ("credentials", "messages", "model", "preference", "max_tokens", "task_hint", "providers")
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TASK_HINT_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    credentials: Credentials
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    model: str
    preference: Preference
    max_tokens: int
    task_hint: str
    providers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, credentials: _Optional[_Union[Credentials, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., model: _Optional[str] = ..., preference: _Optional[_Union[Preference, str]] = ..., max_tokens: _Optional[int] = ..., task_hint: _Optional[str] = ..., providers: _Optional[_Iterable[str]] = ...) -> None: ...

class RouteCandidate(_message.Message):
    __slots__ = ("model", "provider", "est_cost_micro_usd")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    EST_COST_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    model: str
    provider: str
    est_cost_micro_usd: int
    def __init__(self, model: _Optional[str] = ..., provider: _Optional[str] = ..., est_cost_micro_usd: _Optional[int] = ...) -> None: ...

class RouteDecision(_message.Message):
    __slots__ = ("task_type", "confidence", "model", "provider", "est_cost_micro_usd", "fallbacks", "reason", "policy_version", "difficulty")
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    EST_COST_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    FALLBACKS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    DIFFICULTY_FIELD_NUMBER: _ClassVar[int]
    task_type: str
    confidence: float
    model: str
    provider: str
    est_cost_micro_usd: int
    fallbacks: _containers.RepeatedCompositeFieldContainer[RouteCandidate]
    reason: str
    policy_version: str
    difficulty: float
    def __init__(self, task_type: _Optional[str] = ..., confidence: _Optional[float] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., est_cost_micro_usd: _Optional[int] = ..., fallbacks: _Optional[_Iterable[_Union[RouteCandidate, _Mapping]]] = ..., reason: _Optional[str] = ..., policy_version: _Optional[str] = ..., difficulty: _Optional[float] = ...) -> None: ...

class RouteResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: RouteDecision
    def __init__(self, decision: _Optional[_Union[RouteDecision, _Mapping]] = ...) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("credentials", "messages", "model", "preference", "max_tokens", "temperature", "top_p", "stop", "task_hint", "providers")
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    TASK_HINT_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    credentials: Credentials
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    model: str
    preference: Preference
    max_tokens: int
    temperature: float
    top_p: float
    stop: _containers.RepeatedScalarFieldContainer[str]
    task_hint: str
    providers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, credentials: _Optional[_Union[Credentials, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., model: _Optional[str] = ..., preference: _Optional[_Union[Preference, str]] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., stop: _Optional[_Iterable[str]] = ..., task_hint: _Optional[str] = ..., providers: _Optional[_Iterable[str]] = ...) -> None: ...

class CompleteChunk(_message.Message):
    __slots__ = ("delta",)
    DELTA_FIELD_NUMBER: _ClassVar[int]
    delta: str
    def __init__(self, delta: _Optional[str] = ...) -> None: ...

class TokenUsage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "cached_prompt_tokens")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cached_prompt_tokens: _Optional[int] = ...) -> None: ...

class CompleteResponse(_message.Message):
    __slots__ = ("request_id", "content", "finish_reason", "usage", "cost_micro_usd", "route", "model", "provider", "latency_ms", "attempts")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    COST_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    content: str
    finish_reason: str
    usage: TokenUsage
    cost_micro_usd: int
    route: RouteDecision
    model: str
    provider: str
    latency_ms: int
    attempts: int
    def __init__(self, request_id: _Optional[str] = ..., content: _Optional[str] = ..., finish_reason: _Optional[str] = ..., usage: _Optional[_Union[TokenUsage, _Mapping]] = ..., cost_micro_usd: _Optional[int] = ..., route: _Optional[_Union[RouteDecision, _Mapping]] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., latency_ms: _Optional[int] = ..., attempts: _Optional[int] = ...) -> None: ...

class UsageRequest(_message.Message):
    __slots__ = ("credentials", "account_id", "from_day", "to_day", "group_by", "list_requests", "cursor", "limit")
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    LIST_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    credentials: Credentials
    account_id: str
    from_day: int
    to_day: int
    group_by: _containers.RepeatedScalarFieldContainer[UsageGroup]
    list_requests: bool
    cursor: str
    limit: int
    def __init__(self, credentials: _Optional[_Union[Credentials, _Mapping]] = ..., account_id: _Optional[str] = ..., from_day: _Optional[int] = ..., to_day: _Optional[int] = ..., group_by: _Optional[_Iterable[_Union[UsageGroup, str]]] = ..., list_requests: bool = ..., cursor: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class UsageTotals(_message.Message):
    __slots__ = ("requests", "prompt_tokens", "completion_tokens", "cost_micro_usd", "errors", "latency_ms_sum", "cached_prompt_tokens")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_SUM_FIELD_NUMBER: _ClassVar[int]
    CACHED_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_micro_usd: int
    errors: int
    latency_ms_sum: int
    cached_prompt_tokens: int
    def __init__(self, requests: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cost_micro_usd: _Optional[int] = ..., errors: _Optional[int] = ..., latency_ms_sum: _Optional[int] = ..., cached_prompt_tokens: _Optional[int] = ...) -> None: ...

class UsageRow(_message.Message):
    __slots__ = ("day", "model", "provider", "task_type", "key_id", "totals")
    DAY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    day: int
    model: str
    provider: str
    task_type: str
    key_id: str
    totals: UsageTotals
    def __init__(self, day: _Optional[int] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., task_type: _Optional[str] = ..., key_id: _Optional[str] = ..., totals: _Optional[_Union[UsageTotals, _Mapping]] = ...) -> None: ...

class RequestRecord(_message.Message):
    __slots__ = ("request_id", "unix_ms", "key_id", "task_type", "model", "provider", "usage", "cost_micro_usd", "latency_ms", "status", "attempts", "time_to_first_token_ms", "tokens_estimated")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    COST_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_MS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    unix_ms: int
    key_id: str
    task_type: str
    model: str
    provider: str
    usage: TokenUsage
    cost_micro_usd: int
    latency_ms: int
    status: int
    attempts: int
    time_to_first_token_ms: int
    tokens_estimated: bool
    def __init__(self, request_id: _Optional[str] = ..., unix_ms: _Optional[int] = ..., key_id: _Optional[str] = ..., task_type: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., usage: _Optional[_Union[TokenUsage, _Mapping]] = ..., cost_micro_usd: _Optional[int] = ..., latency_ms: _Optional[int] = ..., status: _Optional[int] = ..., attempts: _Optional[int] = ..., time_to_first_token_ms: _Optional[int] = ..., tokens_estimated: bool = ...) -> None: ...

class UsageResponse(_message.Message):
    __slots__ = ("totals", "rows", "requests", "next_cursor")
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    totals: UsageTotals
    rows: _containers.RepeatedCompositeFieldContainer[UsageRow]
    requests: _containers.RepeatedCompositeFieldContainer[RequestRecord]
    next_cursor: str
    def __init__(self, totals: _Optional[_Union[UsageTotals, _Mapping]] = ..., rows: _Optional[_Iterable[_Union[UsageRow, _Mapping]]] = ..., requests: _Optional[_Iterable[_Union[RequestRecord, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("id", "name", "email", "avatar_url", "oauth_provider", "oauth_subject", "plan", "subscription_status", "monthly_budget_micro_usd", "rate_limit_rpm", "created_unix_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    AVATAR_URL_FIELD_NUMBER: _ClassVar[int]
    OAUTH_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    OAUTH_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_STATUS_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_RPM_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    email: str
    avatar_url: str
    oauth_provider: str
    oauth_subject: str
    plan: str
    subscription_status: str
    monthly_budget_micro_usd: int
    rate_limit_rpm: int
    created_unix_ms: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., avatar_url: _Optional[str] = ..., oauth_provider: _Optional[str] = ..., oauth_subject: _Optional[str] = ..., plan: _Optional[str] = ..., subscription_status: _Optional[str] = ..., monthly_budget_micro_usd: _Optional[int] = ..., rate_limit_rpm: _Optional[int] = ..., created_unix_ms: _Optional[int] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("id", "account_id", "name", "prefix", "created_unix_ms", "last_used_unix_ms", "revoked_unix_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    account_id: str
    name: str
    prefix: str
    created_unix_ms: int
    last_used_unix_ms: int
    revoked_unix_ms: int
    def __init__(self, id: _Optional[str] = ..., account_id: _Optional[str] = ..., name: _Optional[str] = ..., prefix: _Optional[str] = ..., created_unix_ms: _Optional[int] = ..., last_used_unix_ms: _Optional[int] = ..., revoked_unix_ms: _Optional[int] = ...) -> None: ...

class CreateKey(_message.Message):
    __slots__ = ("account_id", "name")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    name: str
    def __init__(self, account_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ListAccounts(_message.Message):
    __slots__ = ("cursor", "limit")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    limit: int
    def __init__(self, cursor: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class AccountRequest(_message.Message):
    __slots__ = ("credentials", "create", "get", "get_by_email", "update", "delete", "create_key", "revoke_key", "list_keys", "list", "export", "compact", "export_account", "reload_catalogue")
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    GET_FIELD_NUMBER: _ClassVar[int]
    GET_BY_EMAIL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    CREATE_KEY_FIELD_NUMBER: _ClassVar[int]
    REVOKE_KEY_FIELD_NUMBER: _ClassVar[int]
    LIST_KEYS_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    EXPORT_FIELD_NUMBER: _ClassVar[int]
    COMPACT_FIELD_NUMBER: _ClassVar[int]
    EXPORT_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    RELOAD_CATALOGUE_FIELD_NUMBER: _ClassVar[int]
    credentials: Credentials
    create: Account
    get: str
    get_by_email: str
    update: Account
    delete: str
    create_key: CreateKey
    revoke_key: str
    list_keys: str
    list: ListAccounts
    export: str
    compact: CompactStore
    export_account: ExportAccount
    reload_catalogue: ReloadCatalogue
    def __init__(self, credentials: _Optional[_Union[Credentials, _Mapping]] = ..., create: _Optional[_Union[Account, _Mapping]] = ..., get: _Optional[str] = ..., get_by_email: _Optional[str] = ..., update: _Optional[_Union[Account, _Mapping]] = ..., delete: _Optional[str] = ..., create_key: _Optional[_Union[CreateKey, _Mapping]] = ..., revoke_key: _Optional[str] = ..., list_keys: _Optional[str] = ..., list: _Optional[_Union[ListAccounts, _Mapping]] = ..., export: _Optional[str] = ..., compact: _Optional[_Union[CompactStore, _Mapping]] = ..., export_account: _Optional[_Union[ExportAccount, _Mapping]] = ..., reload_catalogue: _Optional[_Union[ReloadCatalogue, _Mapping]] = ...) -> None: ...

class ExportAccount(_message.Message):
    __slots__ = ("account_id", "cursor", "limit")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    cursor: str
    limit: int
    def __init__(self, account_id: _Optional[str] = ..., cursor: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class AccountResponse(_message.Message):
    __slots__ = ("account", "accounts", "keys", "api_key", "next_cursor", "export_json", "compaction", "catalogue_reload")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    EXPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    COMPACTION_FIELD_NUMBER: _ClassVar[int]
    CATALOGUE_RELOAD_FIELD_NUMBER: _ClassVar[int]
    account: Account
    accounts: _containers.RepeatedCompositeFieldContainer[Account]
    keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    api_key: str
    next_cursor: str
    export_json: bytes
    compaction: CompactionReport
    catalogue_reload: CatalogueReload
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ..., accounts: _Optional[_Iterable[_Union[Account, _Mapping]]] = ..., keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ..., api_key: _Optional[str] = ..., next_cursor: _Optional[str] = ..., export_json: _Optional[bytes] = ..., compaction: _Optional[_Union[CompactionReport, _Mapping]] = ..., catalogue_reload: _Optional[_Union[CatalogueReload, _Mapping]] = ...) -> None: ...

class ReloadCatalogue(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CatalogueReload(_message.Message):
    __slots__ = ("previous_policy_version", "policy_version", "models", "providers", "enabled_providers")
    PREVIOUS_POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    previous_policy_version: str
    policy_version: str
    models: int
    providers: _containers.RepeatedScalarFieldContainer[str]
    enabled_providers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, previous_policy_version: _Optional[str] = ..., policy_version: _Optional[str] = ..., models: _Optional[int] = ..., providers: _Optional[_Iterable[str]] = ..., enabled_providers: _Optional[_Iterable[str]] = ...) -> None: ...

class CompactStore(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CompactionReport(_message.Message):
    __slots__ = ("bytes_before", "bytes_after", "duration_ms")
    BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    bytes_before: int
    bytes_after: int
    duration_ms: int
    def __init__(self, bytes_before: _Optional[int] = ..., bytes_after: _Optional[int] = ..., duration_ms: _Optional[int] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ("credentials",)
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    credentials: Credentials
    def __init__(self, credentials: _Optional[_Union[Credentials, _Mapping]] = ...) -> None: ...

class ProviderHealth(_message.Message):
    __slots__ = ("name", "state", "error_rate", "latency_p50_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: str
    error_rate: float
    latency_p50_ms: int
    def __init__(self, name: _Optional[str] = ..., state: _Optional[str] = ..., error_rate: _Optional[float] = ..., latency_p50_ms: _Optional[int] = ...) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("version", "uptime_ms", "in_flight", "providers", "gateway_overhead_p50_us", "gateway_overhead_p99_us", "gateway_overhead_calls", "store_map_used_bytes", "store_map_size_bytes", "complete_refused", "connections", "models", "cluster")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_MS_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_OVERHEAD_P50_US_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_OVERHEAD_P99_US_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_OVERHEAD_CALLS_FIELD_NUMBER: _ClassVar[int]
    STORE_MAP_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    STORE_MAP_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_REFUSED_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    version: str
    uptime_ms: int
    in_flight: int
    providers: _containers.RepeatedCompositeFieldContainer[ProviderHealth]
    gateway_overhead_p50_us: int
    gateway_overhead_p99_us: int
    gateway_overhead_calls: int
    store_map_used_bytes: int
    store_map_size_bytes: int
    complete_refused: str
    connections: int
    models: _containers.RepeatedCompositeFieldContainer[ModelAvailability]
    cluster: ClusterHealth
    def __init__(self, version: _Optional[str] = ..., uptime_ms: _Optional[int] = ..., in_flight: _Optional[int] = ..., providers: _Optional[_Iterable[_Union[ProviderHealth, _Mapping]]] = ..., gateway_overhead_p50_us: _Optional[int] = ..., gateway_overhead_p99_us: _Optional[int] = ..., gateway_overhead_calls: _Optional[int] = ..., store_map_used_bytes: _Optional[int] = ..., store_map_size_bytes: _Optional[int] = ..., complete_refused: _Optional[str] = ..., connections: _Optional[int] = ..., models: _Optional[_Iterable[_Union[ModelAvailability, _Mapping]]] = ..., cluster: _Optional[_Union[ClusterHealth, _Mapping]] = ...) -> None: ...

class ClusterHealth(_message.Message):
    __slots__ = ("database_connected", "applied_sequence", "outbox_events")
    DATABASE_CONNECTED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    OUTBOX_EVENTS_FIELD_NUMBER: _ClassVar[int]
    database_connected: bool
    applied_sequence: int
    outbox_events: int
    def __init__(self, database_connected: bool = ..., applied_sequence: _Optional[int] = ..., outbox_events: _Optional[int] = ...) -> None: ...

class ModelAvailability(_message.Message):
    __slots__ = ("model", "provider", "state", "since_unix_ms", "catalogue_input_micro_usd_per_mtok", "catalogue_output_micro_usd_per_mtok", "listed_input_micro_usd_per_mtok", "listed_output_micro_usd_per_mtok", "price_differs")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SINCE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CATALOGUE_INPUT_MICRO_USD_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    CATALOGUE_OUTPUT_MICRO_USD_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    LISTED_INPUT_MICRO_USD_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    LISTED_OUTPUT_MICRO_USD_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    PRICE_DIFFERS_FIELD_NUMBER: _ClassVar[int]
    model: str
    provider: str
    state: str
    since_unix_ms: int
    catalogue_input_micro_usd_per_mtok: int
    catalogue_output_micro_usd_per_mtok: int
    listed_input_micro_usd_per_mtok: int
    listed_output_micro_usd_per_mtok: int
    price_differs: bool
    def __init__(self, model: _Optional[str] = ..., provider: _Optional[str] = ..., state: _Optional[str] = ..., since_unix_ms: _Optional[int] = ..., catalogue_input_micro_usd_per_mtok: _Optional[int] = ..., catalogue_output_micro_usd_per_mtok: _Optional[int] = ..., listed_input_micro_usd_per_mtok: _Optional[int] = ..., listed_output_micro_usd_per_mtok: _Optional[int] = ..., price_differs: bool = ...) -> None: ...
