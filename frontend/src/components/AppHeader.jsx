/** The top bar: who is logged in, their account page, and the way out. `view` is the current route's name. */
export function AppHeader({ user, onLogout, view }) {
  return (
    <header className="app-header">
      <a className="skip-link" href="#main" onClick={skipToMain}>
        Skip to content
      </a>
      <a className="brand" href="#/">
        Todolist
      </a>
      <nav className="app-nav" aria-label="Account">
        {user ? (
          <>
            <span className="current-user">
              <span className="current-user-label">Signed in as </span>
              <strong data-testid="current-user">{user.username}</strong>
            </span>
            <a href="#/account" className="account-link" data-testid="account-link" aria-current={view === 'account' ? 'page' : undefined}>
              Account
            </a>
            <button type="button" className="button button-quiet logout" data-testid="logout" onClick={onLogout}>
              Log out
            </button>
          </>
        ) : (
          <>
            <a href="#/login">Log in</a>
            <a href="#/signup">Sign up</a>
          </>
        )}
      </nav>
    </header>
  );
}

// "#main" would be taken as a route by the hash router, so move focus by hand.
function skipToMain(event) {
  event.preventDefault();
  document.getElementById('main')?.focus();
}
