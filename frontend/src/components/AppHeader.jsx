/** The top bar: who is logged in, and the way out. */
export function AppHeader({ user, onLogout }) {
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
