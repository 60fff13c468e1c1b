import { useDocumentTitle } from '../hooks/useDocumentTitle.js';
import { useAccountList } from '../hooks/useAccountList.js';
import { DeleteAccount } from './DeleteAccount.jsx';
import { PasswordForm } from './PasswordForm.jsx';
import { SessionList } from './SessionList.jsx';
import { TokenList } from './TokenList.jsx';

/**
 * The Account page (#/account): where the user is logged in, the password, access tokens for
 * scripts, and deleting the account. Every call needs the browser session.
 */
export function AccountPage({ api, user, onLogout, onDeleted }) {
  useDocumentTitle('Account');
  // Held here, not in SessionList: a password change ends every other session.
  const sessions = useAccountList(api.sessions.list);

  return (
    <div className="account-page" data-testid="account-page">
      <h1 id="account-title">Your account</h1>
      <p className="muted account-intro">
        Logged in as <strong>{user.username}</strong>.
      </p>
      <SessionList api={api} sessions={sessions} onLogout={onLogout} />
      <PasswordForm api={api} username={user.username} onChanged={sessions.reload} />
      <TokenList api={api} />
      <DeleteAccount api={api} username={user.username} onDeleted={onDeleted} />
      <p className="back-link">
        <a href="#/">← Back to your todos</a>
      </p>
    </div>
  );
}
