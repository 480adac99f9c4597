-- Budgets per student per course (a course's tutor.yaml `budget`) on top of the operator's
-- daily budget per student: what a student spent in each course each (UTC) day, and which
-- course each open reservation is for. usage_daily stays the total over all courses.
CREATE TABLE usage_daily_course (
    user_name  text NOT NULL,
    course_id  text NOT NULL,
    day        date NOT NULL,
    tokens     bigint NOT NULL DEFAULT 0,
    cost_usd   numeric(12, 6) NOT NULL DEFAULT 0,
    requests   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_name, course_id, day)
);

ALTER TABLE budget_reservations ADD COLUMN course_id text;
