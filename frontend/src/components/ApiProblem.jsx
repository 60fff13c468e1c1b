import { useDocumentTitle } from '../hooks/useDocumentTitle.js';
import { Notice } from './Notice.jsx';

/**
 * Shown when a view could not get its data. A network error most often means
 * the backend is down or the deployed config.js points at the wrong URL, so
 * the message names the URL in use.
 */
export function ApiProblem({ error, apiUrl, onRetry }) {
  const unreachable = error.code === 'network_error' || error.code === 'timeout';
  useDocumentTitle(unreachable ? 'Cannot reach the API' : 'API error');
  return (
    <Notice
      testId="api-unreachable"
      action={
        <button type="button" className="button" onClick={onRetry}>
          Try again
        </button>
      }
    >
      {unreachable ? (
        <>
          {error.code === 'timeout' ? 'No answer in time from' : 'Cannot reach'} the API at{' '}
          <code>{apiUrl || window.location.origin}</code>. Check that the backend is running, or see{' '}
          <a href="#/diagnostics">diagnostics</a>.
        </>
      ) : (
        <>The API answered with an error: {error.detail}</>
      )}
    </Notice>
  );
}
