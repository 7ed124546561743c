-- Section 4 of the seed workflow: summary tables built with CTAS.
CREATE TABLE analytics.mau_summary AS
SELECT
  TO_CHAR(A.ts, 'YYYY-MM') AS month,
  COUNT(DISTINCT B.userid) AS mau
 FROM raw_data.session_timestamp A
 JOIN raw_data.user_session_channel B ON A.sessionid = B.sessionid
 GROUP BY 1
ORDER BY 1 DESC;

SELECT * FROM analytics.mau_summary;
