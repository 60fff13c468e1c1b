import { forwardRef, useState } from 'react';

/**
 * A token just created, with its secret: shown this once (the server keeps only a hash), with a
 * Copy button and a plain warning. `onDone` hides it for good.
 */
export const NewTokenSecret = forwardRef(function NewTokenSecret({ token, onDone }, secretRef) {
  const [copyResult, setCopyResult] = useState('');

  async function copy() {
    const field = secretRef.current;
    try {
      await navigator.clipboard.writeText(token.token);
      setCopyResult('Copied to the clipboard.');
    } catch {
      // No clipboard API (an insecure origin) or no permission: the selection is the way.
      field?.select();
      const copied = typeof document !== 'undefined' && document.execCommand && document.execCommand('copy');
      setCopyResult(copied ? 'Copied to the clipboard.' : 'Could not copy: the token is selected, copy it with your keyboard.');
    }
  }

  return (
    <div className="token-secret" role="group" aria-labelledby="token-secret-title" data-testid="new-token">
      <h3 id="token-secret-title">Your new token “{token.name}”</h3>
      <p className="token-secret-warning">
        <strong>Copy it now: you will not see it again.</strong> Only a fingerprint of it is kept, so it cannot be shown
        later. Keep it like a password; anyone who has it can use your todos.
      </p>
      <label htmlFor="token-secret-value">Token</label>
      <div className="token-secret-row">
        <input
          ref={secretRef}
          id="token-secret-value"
          className="token-secret-value"
          data-testid="token-secret"
          readOnly
          spellCheck="false"
          autoComplete="off"
          value={token.token}
          onFocus={(event) => event.target.select()}
        />
        <button type="button" className="button" onClick={copy}>
          Copy<span className="visually-hidden"> the token</span>
        </button>
      </div>
      <p className="token-secret-copied" role="status" data-testid="token-copy-status">
        {copyResult}
      </p>
      <button type="button" className="button" onClick={onDone}>
        Done, hide the token
      </button>
    </div>
  );
});
