export function NotFound() {
  return (
    <section className="card" aria-labelledby="not-found-title">
      <h2 id="not-found-title">Page not found</h2>
      <p>
        There is nothing at this address. <a href="#/">Go to your todos</a>.
      </p>
    </section>
  );
}
