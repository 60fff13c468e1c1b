import { useEffect, useRef } from 'react';

import { navigate, useHashLocation } from '../hooks/useHashPath.js';
import { useSession } from '../hooks/useSession.js';
import { matchRoute, PRIVATE_ROUTES } from '../routes.js';
import { AccountPage } from './AccountPage.jsx';
import { ApiProblem } from './ApiProblem.jsx';
import { AppHeader } from './AppHeader.jsx';
import { AuthForm } from './AuthForm.jsx';
import { Diagnostics } from './Diagnostics.jsx';
import { Loading } from './Loading.jsx';
import { NotFound } from './NotFound.jsx';
import { Notice } from './Notice.jsx';
import { TodoApp } from './TodoApp.jsx';

/** Routing and the session: the only state that spans pages lives here. */
export function App({ api }) {
  const { path, visit } = useHashLocation();
  const route = matchRoute(path);
  const session = useSession(api);
  const { status, user } = session;
  // The list the user asked for before being sent to log in, to return to afterwards.
  const returnTo = useRef('/');

  // Runs again on every hash change (`visit`), even one back to the path shown: a redirect
  // that another navigation undid before the app saw it is made again.
  useEffect(() => {
    if (status !== 'ready') return;
    if (PRIVATE_ROUTES.has(route.name) && !user) {
      returnTo.current = path;
      navigate('/login', { replace: true });
    } else if ((route.name === 'login' || route.name === 'signup') && user) {
      navigate(returnTo.current, { replace: true });
      returnTo.current = '/';
    }
  }, [status, user, route.name, path, visit]);

  const sessionNotice = session.notice && (
    <Notice
      tone={session.notice.tone}
      onDismiss={session.dismissNotice}
      action={
        session.notice.retry && (
          <button type="button" className="button" onClick={session.notice.retry}>
            Retry
          </button>
        )
      }
    >
      {session.notice.text}
    </Notice>
  );

  return (
    <div className="page">
      <AppHeader user={user} onLogout={session.logout} view={route.name} />
      <main id="main" className="content" tabIndex={-1}>
        {renderView()}
      </main>
      <footer className="info">
        <a href="#/diagnostics">Diagnostics</a>
      </footer>
    </div>
  );

  function accountDeleted() {
    // Straight to the log-in form (not through the redirect, which would bring a new log-in back here).
    navigate('/login', { replace: true });
    session.endedByServer(`The account “${user.username}” has been deleted, with all its todos and tokens.`);
  }

  function renderView() {
    // Diagnostics must work even when the session cannot be loaded: that is when it is needed.
    if (route.name === 'diagnostics') return <Diagnostics api={api} />;
    if (route.name === 'not-found') return <NotFound />;
    if (status === 'loading') return <Loading>Loading…</Loading>;
    if (status === 'unreachable') {
      return <ApiProblem error={session.error} apiUrl={api.client.baseUrl} onRetry={session.retry} />;
    }
    if (route.name === 'login') return <AuthForm key="login" mode="login" onSubmit={session.login} notice={sessionNotice} />;
    if (route.name === 'signup') return <AuthForm key="signup" mode="signup" onSubmit={session.signup} notice={sessionNotice} />;
    if (!user) return null; // Redirecting to the log-in form.
    if (route.name === 'account') {
      return (
        <>
          {sessionNotice}
          <AccountPage key={user.id} api={api} user={user} onLogout={session.logout} onDeleted={accountDeleted} />
        </>
      );
    }
    return (
      <>
        {sessionNotice}
        {/* Keyed by user so that nothing of one user's list survives into another's. */}
        <TodoApp key={user.id} api={api} filter={route.filter} userId={user.id} onUserChanged={session.changedElsewhere} />
      </>
    );
  }
}
