/// Every declared statement, sorted by whether requests run it.
///
/// `perRequest` holds one instance of each statement an HTTP request may run, with sample
/// binds: `QueryPlanTests` asks each engine for its plan and fails on a full table scan,
/// and fails when a statement declared in the sources is in neither list, so a new query
/// is checked as soon as it is written.
enum QueryCatalog {
    static let perRequest: [any StoreQuery] = [
        // Todos
        ListTodos(userID: 1),
        ListTodosInState(userID: 1, completed: true),
        FindTodo(userID: 1, id: 1),
        InsertTodo(userID: 1, title: "t", completed: false, order: 1, now: 1, cap: 10),
        AppendTodo(userID: 1, title: "t", completed: false, now: 1, cap: 10),
        TodoRoom(userID: 1),
        UpdateTodo(userID: 1, id: 1, changes: TodoChanges(title: "t"), now: 1),
        DeleteTodo(userID: 1, id: 1),
        SetAllCompleted(userID: 1, completed: true, now: 1),
        DeleteCompleted(userID: 1),
        // Authentication
        LoadSession(idHash: "h", now: 1),
        LoadSessionWithTodos(idHash: "h", now: 1),
        LoadSessionWithTodosInState(idHash: "h", now: 1, completed: true),
        RefreshSession(idHash: "h", expiresAt: 1, lastSeenAt: 1, client: "c", address: "a"),
        LoadToken(tokenHash: "h", now: 1),
        LoadTokenWithTodos(tokenHash: "h", now: 1),
        LoadTokenWithTodosInState(tokenHash: "h", now: 1, completed: true),
        TouchToken(id: 1, lastUsedAt: 1),
        // Accounts and sessions
        FindUserByKey(key: "k"),
        FindUserByID(id: 1),
        InsertUser(username: "u", key: "u", passwordHash: "p", now: 1),
        UpdatePassword(userID: 1, passwordHash: "p"),
        DeleteUserTodos(userID: 1),
        DeleteUserTokens(userID: 1),
        DeleteUser(userID: 1),
        IssueSession(idHash: "h", userID: 1, csrfSecret: "s", now: 1, expiresAt: 2, publicID: 1, client: .unknown),
        DeleteSession(idHash: "h"),
        DeleteUserSessions(userID: 1),
        ListSessions(userID: 1, now: 1),
        EndSession(userID: 1, publicID: 1, now: 1),
        EndOtherSessions(userID: 1, keeping: "h"),
        // Access tokens
        LockUserRow(userID: 1),
        CountLiveTokens(userID: 1, now: 1),
        InsertToken(userID: 1, name: "n", tokenHash: "h", abilities: "todos:read", now: 1, expiresAt: nil),
        ListTokens(userID: 1),
        DeleteToken(userID: 1, id: 1),
        // Throttling
        ReserveAttempts(scopes: ["username"], subjects: ["u"], limits: [5], lockClasses: [1], window: 1, now: 1),
        KeptFailureTime(scope: "username", subject: "u", after: 1, offset: 4),
        InsertLoginFailure(scope: "username", subject: "u", now: 1),
        DeleteLoginFailures(ids: [1, 2]),
        ClearLoginFailures(scope: "username", subject: "u"),
        // Live updates
        RecordLiveEvent(
            userID: 1, kind: .todoCreated, data: "{}", now: 1, kept: 200, notificationPrefix: "e 1 ",
            notificationSuffix: " todo.created {}"),
        NextLiveEventID(userID: 1),
        InsertLiveEvent(userID: 1, id: 1, kind: .todoCreated, data: "{}", now: 1),
        PruneLiveEvents(userID: 1, keptAfter: 1),
        CurrentLiveEventID(userID: 1),
        LiveEventsAfter(userID: 1, after: 1, upTo: 2),
        FindLiveEvent(userID: 1, id: 1),
        Notify(payload: "s 1 1"),
    ]

    /// Statements no request runs, or that read no table.
    static let others: [any StoreQuery.Type] = [
        // Transactions and the readiness check: no table.
        BeginTransaction.self, CommitTransaction.self, RollbackTransaction.self, Ping.self,
        // Housekeeping, in the background, in bounded batches.
        PurgeSessions.self, PurgeLoginFailures.self, PurgeTokens.self,
        // After the live updates' listener reconnects, in batches of 500.
        LiveSessionsAmong.self,
        // Migrations.
        MigrationLock.self, AppliedMigrations.self, RecordMigration.self, SchemaStatement.self,
    ]
}
