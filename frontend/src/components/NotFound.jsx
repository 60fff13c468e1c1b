import { useDocumentTitle } from '../hooks/useDocumentTitle.js';

export function NotFound() {
  useDocumentTitle('Page not found');
  return (
    <section className="card" aria-labelledby="not-found-title">
      <h1 id="not-found-title">Page not found</h1>
      <p>
        There is nothing at this address. <a href="#/">Go to your todos</a>.
      </p>
    </section>
  );
}
